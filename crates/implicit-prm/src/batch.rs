//! The PRM's input: prompt + response rows ([`ResponseBatch`]), the policy's log-probs when
//! the reference is the policy, and the outcome labels used to train it.

use std::ops::Range;

use burn::tensor::{backend::AutodiffBackend, backend::Backend, Tensor};
use prime_models::{ResponseBatch, ResponseDims};

use crate::PrmError;

/// What the PRM scores: the rows, and `log π_θold` of their response tokens when the reference
/// is [`crate::PrmReference::Policy`].
#[derive(Debug, Clone)]
pub struct PrmBatch<B: Backend> {
    /// Prompt + response rows.
    pub responses: ResponseBatch<B>,
    /// `[n, R]` `log π_θold(y_t | x, y_<t)` of the response tokens: the PRM reference when it is
    /// [`crate::PrmReference::Policy`]; ignored for a frozen reference.
    pub reference_log_probs: Option<Tensor<B, 2>>,
}

impl<B: Backend> PrmBatch<B> {
    /// Builds a batch from token id lists (see [`ResponseBatch::from_ids`]), without reference
    /// log-probs.
    pub fn from_ids<P: AsRef<[u32]>, R: AsRef<[u32]>>(
        prompts: &[P],
        responses: &[R],
        pad_id: u32,
        device: &B::Device,
    ) -> Result<Self, PrmError> {
        Ok(ResponseBatch::from_ids(prompts, responses, pad_id, device)?.into())
    }

    /// Attaches `log π_θold` of the response tokens (`[n, R]`) for a policy reference.
    pub fn with_reference_log_probs(mut self, log_probs: Tensor<B, 2>) -> Self {
        self.reference_log_probs = Some(log_probs);
        self
    }

    /// Number of rows `n`.
    pub fn num_rows(&self) -> usize {
        self.responses.num_rows()
    }

    /// Checks the invariants and returns `n` and `R`.
    pub(crate) fn dims(&self) -> Result<ResponseDims, PrmError> {
        let dims = self.responses.dims()?;
        if let Some(log_probs) = &self.reference_log_probs {
            if log_probs.dims() != [dims.rows, dims.response_width] {
                return Err(PrmError::Batch(format!(
                    "reference_log_probs is {:?}, expected [{}, {}]",
                    log_probs.dims(),
                    dims.rows,
                    dims.response_width
                )));
            }
        }
        Ok(dims)
    }

    /// Rows `range` as a batch of their own (the same columns).
    pub(crate) fn rows(&self, range: Range<usize>) -> Self {
        Self {
            responses: self.responses.rows(range.clone()),
            reference_log_probs: self.reference_log_probs.as_ref().map(|t| {
                let r = t.dims()[1];
                t.clone().slice([range, 0..r])
            }),
        }
    }
}

impl<B: Backend> From<ResponseBatch<B>> for PrmBatch<B> {
    fn from(responses: ResponseBatch<B>) -> Self {
        Self {
            responses,
            reference_log_probs: None,
        }
    }
}

impl<B: AutodiffBackend> PrmBatch<B> {
    /// The same batch on the inner (non-autodiff) backend, for inference forwards.
    pub fn inner(&self) -> PrmBatch<B::InnerBackend> {
        PrmBatch {
            responses: self.responses.inner(),
            reference_log_probs: self.reference_log_probs.clone().map(Tensor::inner),
        }
    }
}

/// Outcome labels of a batch: `acc_i ∈ [0, 1]` (soft labels allowed) and the group (prompt) of
/// each response, used by the `dpo` loss and the `dpo_acc` metric.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeLabels {
    /// `acc_i` per row.
    pub acc: Vec<f32>,
    /// Group id per row; rows with equal ids answer the same prompt.
    pub group_ids: Vec<usize>,
}

impl OutcomeLabels {
    /// Checks that there is one label and one group id per row and every `acc` is in `[0, 1]`.
    pub(crate) fn validate(&self, rows: usize) -> Result<(), PrmError> {
        if self.acc.len() != rows || self.group_ids.len() != rows {
            return Err(PrmError::Labels(format!(
                "{} acc values and {} group ids for {rows} rows",
                self.acc.len(),
                self.group_ids.len()
            )));
        }
        if let Some((row, acc)) = self
            .acc
            .iter()
            .enumerate()
            .find(|(_, a)| !(0.0..=1.0).contains(*a))
        {
            return Err(PrmError::Labels(format!(
                "acc[{row}] = {acc} is not in [0, 1]"
            )));
        }
        Ok(())
    }
}
