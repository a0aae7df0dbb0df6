//! Token log-probs and entropies straight from hidden states, `chunk` rows at a time, so the
//! `[N, vocab]` logits never exist at once.
//!
//! For row `i` with hidden state `h_i` (`[H]`), head `W` (`[H, V]`), vocabulary limit `L ≤ V`
//! and target `t_i < L`:
//!
//! ```text
//! z_i = h_i · W[:, ..L]                 (logits over the allowed ids, [L])
//! lse_i = max(z_i) + ln Σ_v exp(z_iv − max(z_i))
//! log p_i = z_i − lse_i
//! lp_i = log p_i[t_i]                   (log-prob of the target)
//! H_i = −Σ_v p_iv · log p_iv            (entropy, nats)
//! ```
//!
//! Only one chunk's `[chunk, L]` logits are alive at a time. Under the autodiff backends this
//! crate ships (see [`crate::chunked_backward`]) the backward pass is chunked too: the graph
//! keeps `h`, `W`, the targets and `lse`, `H` per row (`O(N·H + N)` instead of `O(N·L)`), and
//! recomputes each chunk's logits. On any other backend the same chunked forward runs with
//! ordinary tensor ops: identical values, and under an unknown autodiff backend the usual graph
//! (which keeps every chunk's logits).

use burn::tensor::{backend::Backend, Int, Tensor};

use crate::fused::fused_kernels_enabled;
use crate::log_probs_fused::chunk_scores;

/// How [`crate::token_scores::token_scores`] splits its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkSpec {
    /// `L`: only the first `L` columns of the head are the vocabulary (`1 ≤ L ≤ V`).
    pub limit: usize,
    /// Rows per chunk (at least 1).
    pub chunk: usize,
}

/// The inputs of [`crate::token_scores::token_scores`], kept together for the backend dispatch.
#[derive(Debug, Clone)]
pub(crate) struct ScoreInputs<B: Backend> {
    /// `[N, H]`.
    pub hidden: Tensor<B, 2>,
    /// `[H, V]`.
    pub head: Tensor<B, 2>,
    /// `[N]`.
    pub targets: Tensor<B, 1, Int>,
}

/// The chunked forward with ordinary (differentiable) tensor ops: `[N, 2]`.
pub(crate) fn decomposed_scores<B: Backend>(
    inputs: ScoreInputs<B>,
    spec: ChunkSpec,
) -> Tensor<B, 2> {
    chunked_forward(&inputs, spec).scores
}

/// Every chunk's [`chunk_forward`], concatenated (`N ≥ 1`).
pub(crate) struct ForwardScores<B: Backend> {
    /// `[N, 2]`: `log p(target)` and `H`.
    pub scores: Tensor<B, 2>,
    /// `[N, 1]`: `lse`.
    pub log_sum_exp: Tensor<B, 2>,
    /// `[N, 1]`: `H`.
    pub entropy: Tensor<B, 2>,
}

/// Runs [`chunk_forward`] over the chunks of rows of `inputs` (which has at least one row).
pub(crate) fn chunked_forward<B: Backend>(
    inputs: &ScoreInputs<B>,
    spec: ChunkSpec,
) -> ForwardScores<B> {
    let [rows, hidden_dim] = inputs.hidden.dims();
    let head = limited_head(inputs.head.clone(), spec.limit);
    let (mut scores, mut lse, mut entropy) = (Vec::new(), Vec::new(), Vec::new());
    for range in chunks(rows, spec.chunk) {
        let chunk = chunk_forward(
            inputs.hidden.clone().slice([range.clone(), 0..hidden_dim]),
            head.clone(),
            inputs.targets.clone().slice([range]),
        );
        scores.push(Tensor::cat(vec![chunk.log_prob, chunk.entropy.clone()], 1));
        lse.push(chunk.log_sum_exp);
        entropy.push(chunk.entropy);
    }
    ForwardScores {
        scores: Tensor::cat(scores, 0),
        log_sum_exp: Tensor::cat(lse, 0),
        entropy: Tensor::cat(entropy, 0),
    }
}

/// `head[:, ..limit]`, `[H, L]`.
pub(crate) fn limited_head<B: Backend>(head: Tensor<B, 2>, limit: usize) -> Tensor<B, 2> {
    let [hidden, vocab] = head.dims();
    if limit >= vocab {
        head
    } else {
        head.slice([0..hidden, 0..limit])
    }
}

/// The row ranges `0..chunk, chunk..2·chunk, …` covering `0..rows` (the last one shorter).
pub(crate) fn chunks(rows: usize, chunk: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let chunk = chunk.max(1);
    (0..rows)
        .step_by(chunk)
        .map(move |start| start..(start + chunk).min(rows))
}

/// One chunk's scores, each `[c, 1]`.
pub(crate) struct ChunkScores<B: Backend> {
    /// `log p(target)`.
    pub log_prob: Tensor<B, 2>,
    /// `H = −Σ p log p`.
    pub entropy: Tensor<B, 2>,
    /// `lse = ln Σ exp z`, what the backward needs to recover `log p = z − lse`.
    pub log_sum_exp: Tensor<B, 2>,
}

/// Scores of `c` rows: `hidden` `[c, H]`, `head` `[H, L]`, `targets` `[c]` (each `< L`).
///
/// On the plain CPU backend the log-softmax, gather and entropy of the chunk's logits are the
/// fused row kernels ([`crate::log_probs_fused::chunk_scores`]) while
/// [`fused_kernels_enabled`], else burn's ops.
pub(crate) fn chunk_forward<B: Backend>(
    hidden: Tensor<B, 2>,
    head: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
) -> ChunkScores<B> {
    let logits = hidden.matmul(head); // [c, L]
    if fused_kernels_enabled() {
        if let Some([log_prob, entropy, log_sum_exp]) = chunk_scores(&logits, &targets) {
            return ChunkScores {
                log_prob,
                entropy,
                log_sum_exp,
            };
        }
    }
    decomposed_chunk_scores(logits, targets)
}

/// [`chunk_forward`]'s scores of the logits `[c, L]` with burn's ops.
pub(crate) fn decomposed_chunk_scores<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
) -> ChunkScores<B> {
    let rows = targets.dims()[0];
    // The shift only guards exp against overflow; it carries no gradient (the result does not
    // depend on it).
    let max = logits.clone().detach().max_dim(1); // [c, 1]
    let log_sum_exp = logits
        .clone()
        .sub(max.clone())
        .exp()
        .sum_dim(1)
        .log()
        .add(max); // [c, 1]
    let log_p = logits.sub(log_sum_exp.clone()); // [c, L]
    let entropy = log_p.clone().exp().mul(log_p.clone()).sum_dim(1).neg();
    let log_prob = log_p.gather(1, targets.reshape([rows, 1]));
    ChunkScores {
        log_prob,
        entropy,
        log_sum_exp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_rows_once() {
        let ranges: Vec<_> = chunks(7, 3).collect();
        assert_eq!(ranges, vec![0..3, 3..6, 6..7]);
        assert_eq!(chunks(4, 0).count(), 4); // chunk 0 is treated as 1
        assert_eq!(chunks(0, 5).count(), 0);
    }
}
