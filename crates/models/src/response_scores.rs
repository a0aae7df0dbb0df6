//! [`ResponseScores`]: what scoring the responses of a [`crate::ResponseBatch`] gives.

use burn::tensor::{backend::Backend, Tensor};

/// Per-token scores of the response tokens of a [`crate::ResponseBatch`], `[n, R]` each, 0 after `L_i`.
#[derive(Debug, Clone)]
pub struct ResponseScores<B: Backend> {
    /// `log π(y_t | x, y_<t)`.
    pub log_probs: Tensor<B, 2>,
    /// Entropy (nats) of the distribution that predicts `y_t`, when asked for.
    pub entropy: Option<Tensor<B, 2>>,
    /// The response mask `m_{i,t} = 1[t < L_i]`.
    pub mask: Tensor<B, 2>,
}
