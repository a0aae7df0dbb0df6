//! The entry point of chunked token scoring: the custom autodiff node where the backend has one
//! ([`crate::chunked_backward`]), else the decomposed chunked forward ([`crate::chunked_scores`]).

use burn::tensor::{backend::Backend, Int, Tensor};

use crate::chunked_backward::autodiff_scores;
use crate::chunked_scores::{decomposed_scores, ChunkSpec, ScoreInputs};

/// `[N, 2]`: column 0 `log p(target)`, column 1 the entropy, of each row of `hidden`.
///
/// `hidden`: `[N, H]`; `head`: `[H, V]`; `targets`: `[N]`, each below `spec.limit`.
/// Differentiable with respect to `hidden` and `head` under an autodiff backend.
pub(crate) fn token_scores<B: Backend>(
    hidden: Tensor<B, 2>,
    head: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    spec: ChunkSpec,
) -> Tensor<B, 2> {
    let rows = hidden.dims()[0];
    if rows == 0 {
        return Tensor::zeros([0, 2], &hidden.device());
    }
    let inputs = ScoreInputs {
        hidden,
        head,
        targets,
    };
    match autodiff_scores(&inputs, spec) {
        Some(scores) => scores,
        None => decomposed_scores(inputs, spec),
    }
}
