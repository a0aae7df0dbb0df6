//! Response-token log-probabilities of a causal LM and the implicit log-ratio
//! `q_{i,t} = log π_φ(y_t | x, y_<t) − log π_ref(y_t | x, y_<t)` (docs/algorithm.md §6).

use burn::tensor::{backend::Backend, Tensor};
use prime_models::{token_log_probs, CausalLm, TokenBatch};

use crate::{batch::BatchDims, PrmError, ResponseBatch};

/// `[n, R]` log-probability of each response token under `model`, 0 after `L_i`.
///
/// Column `t` is `log π(y_t | x, y_<t)`: the logits at column `P + t − 1` scored against the
/// token at `P + t`. Only the `R` response positions go through the log-softmax.
pub fn response_log_probs<B: Backend, M: CausalLm<B>>(
    model: &M,
    batch: &ResponseBatch<B>,
) -> Result<Tensor<B, 2>, PrmError> {
    let dims = batch.dims()?;
    Ok(masked_response_log_probs(model, batch, dims))
}

pub(crate) fn masked_response_log_probs<B: Backend, M: CausalLm<B>>(
    model: &M,
    batch: &ResponseBatch<B>,
    dims: BatchDims,
) -> Tensor<B, 2> {
    let BatchDims {
        rows,
        response_width,
    } = dims;
    let start = batch.response_start;
    let width = start + response_width;
    let logits = model.forward(&batch.tokens); // [n, P + R, V]
    let vocab = logits.dims()[2];
    // Only the columns P − 1 .. P + R take part: the logits at P − 1 + t predict response
    // token t, so token_log_probs over these R + 1 columns yields exactly the R response scores.
    let columns = start - 1..width;
    let window = TokenBatch {
        input_ids: batch
            .tokens
            .input_ids
            .clone()
            .slice([0..rows, columns.clone()]),
        attention_mask: batch
            .tokens
            .attention_mask
            .clone()
            .slice([0..rows, columns.clone()]),
    };
    let logits = logits.slice([0..rows, columns, 0..vocab]); // [n, R + 1, V]
    token_log_probs(logits, &window).mul(batch.response_mask(response_width)) // [n, R]
}
