//! [`crate::response_scores()`] without `[n, P + R, vocab]` logits: the LM head runs on the
//! hidden states of the response tokens only, `chunk` tokens at a time
//! ([`crate::chunked_scores`]).

use burn::tensor::{backend::Backend, IndexingUpdateOp, Int, Tensor, TensorData};

use crate::chunked_scores::ChunkSpec;
use crate::response_scores::ResponseScores;
use crate::sampling::allowed_vocab;
use crate::token_scores::token_scores;
use crate::{HiddenStates, ResponseBatch, ResponseDims};

/// The scores of [`crate::response_scores()`] from `states = model.hidden_states(batch.tokens)`.
///
/// The hidden state at column `P − 1 + t` predicts response token `t` (column `P + t`). Only
/// the `Σ L_i` valid tokens (`t < L_i`) are scored: their hidden rows are gathered into
/// `[Σ L_i, H]`, scored `chunk` rows at a time, and scattered back into `[n, R]` (0 after `L_i`).
/// A token at or past the vocabulary limit scores `−∞`, as in the unchunked path.
pub(crate) fn chunked_response_scores<B: Backend>(
    states: HiddenStates<B>,
    batch: &ResponseBatch<B>,
    dims: ResponseDims,
    chunk: usize,
    with_entropy: bool,
) -> ResponseScores<B> {
    let (rows, width) = (dims.rows, dims.response_width);
    let start = batch.response_start;
    let [_, _, hidden_dim] = states.hidden.dims();
    let allowed = allowed_vocab(batch.vocab_limit, states.head.dims()[1]);
    let device = states.hidden.device();
    let mask = batch.response_mask(width);
    // Flat index i·R + t of every valid response token.
    let valid: Vec<i64> = batch
        .response_lengths
        .iter()
        .enumerate()
        .flat_map(|(row, &len)| (0..len).map(move |t| (row * width + t) as i64))
        .collect();
    let count = valid.len();
    if count == 0 {
        let zeros = || Tensor::zeros([rows, width], &device);
        return ResponseScores {
            log_probs: zeros(),
            entropy: with_entropy.then(zeros),
            mask,
        };
    }
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(valid, [count]), &device);
    let hidden = states
        .hidden
        .slice([0..rows, start - 1..start - 1 + width, 0..hidden_dim])
        .reshape([rows * width, hidden_dim])
        .select(0, index.clone()); // [Σ L_i, H]
    let ids = batch
        .tokens
        .input_ids
        .clone()
        .slice([0..rows, start..start + width])
        .reshape([rows * width])
        .select(0, index.clone()); // [Σ L_i]
                                   // Tokens past the limit have probability 0: scored as id 0 (so the gather stays in range),
                                   // then set to −∞.
    let outside = ids.clone().greater_equal_elem(allowed as i64);
    let targets = ids.mask_fill(outside.clone(), 0);
    let spec = ChunkSpec {
        limit: allowed,
        chunk,
    };
    let scores = token_scores(hidden, states.head, targets, spec); // [Σ L_i, 2]
    let column = |c: usize| scores.clone().slice([0..count, c..c + 1]).reshape([count]);
    let scatter = |values: Tensor<B, 1>| {
        Tensor::<B, 1>::zeros([rows * width], &device)
            .select_assign(0, index.clone(), values, IndexingUpdateOp::Add)
            .reshape([rows, width])
    };
    ResponseScores {
        log_probs: scatter(column(0).mask_fill(outside, f32::NEG_INFINITY)),
        entropy: with_entropy.then(|| scatter(column(1))),
        mask,
    }
}
