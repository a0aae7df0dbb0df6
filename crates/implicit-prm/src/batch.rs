//! The PRM's input: prompt + response token rows, where the responses start, how long they are,
//! and the outcome labels used to train it.

use std::ops::Range;

use burn::tensor::{backend::AutodiffBackend, backend::Backend, Int, Tensor, TensorData};
use prime_models::TokenBatch;

use crate::PrmError;

/// Prompt + response rows scored by the PRM.
///
/// Layout of `tokens` (`[n, P + R]`): columns `0..P` hold the prompt, left-padded; columns
/// `P..P + R` hold the response, right-padded. Row `i`'s valid response tokens are the first
/// `response_lengths[i]` columns after `response_start = P` (`L_i`, counting an EOS token if one
/// was generated). Padding after `L_i` never influences the rewards: the model is causal and the
/// rewards are masked by `L_i`.
#[derive(Debug, Clone)]
pub struct ResponseBatch<B: Backend> {
    /// `[n, P + R]` token ids and attention mask.
    pub tokens: TokenBatch<B>,
    /// `P`, the first response column; at least 1 (a response needs a context to be scored).
    pub response_start: usize,
    /// `L_i` for each row, each at most `R`.
    pub response_lengths: Vec<usize>,
    /// `[n, R]` `log π_θold(y_t | x, y_<t)` of the response tokens: the PRM reference when it is
    /// [`crate::Reference::Policy`]; ignored for a frozen reference.
    pub reference_log_probs: Option<Tensor<B, 2>>,
}

/// The shape of a validated [`ResponseBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchDims {
    /// Rows `n`.
    pub rows: usize,
    /// Response width `R`.
    pub response_width: usize,
}

impl<B: Backend> ResponseBatch<B> {
    /// Builds a batch from token id lists: prompts left-padded to the longest prompt, responses
    /// right-padded to the longest response, `pad_id` under padding (mask 0).
    ///
    /// Errors if the lists differ in length, the batch is empty or a prompt is empty.
    pub fn from_ids(
        prompts: &[Vec<u32>],
        responses: &[Vec<u32>],
        pad_id: u32,
        device: &B::Device,
    ) -> Result<Self, PrmError> {
        if prompts.len() != responses.len() {
            return Err(PrmError::Batch(format!(
                "{} prompts but {} responses",
                prompts.len(),
                responses.len()
            )));
        }
        if prompts.is_empty() {
            return Err(PrmError::Batch("the batch has no rows".to_string()));
        }
        if let Some(row) = prompts.iter().position(Vec::is_empty) {
            return Err(PrmError::Batch(format!("prompt of row {row} is empty")));
        }
        let prompt_width = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let response_width = responses.iter().map(Vec::len).max().unwrap_or(0);
        let width = prompt_width + response_width;
        let rows = prompts.len();
        let mut ids = vec![pad_id as i64; rows * width];
        let mut mask = vec![0i64; rows * width];
        for (row, (prompt, response)) in prompts.iter().zip(responses).enumerate() {
            let base = row * width;
            let prompt_from = base + prompt_width - prompt.len();
            for (k, &id) in prompt.iter().enumerate() {
                ids[prompt_from + k] = id as i64;
                mask[prompt_from + k] = 1;
            }
            for (k, &id) in response.iter().enumerate() {
                ids[base + prompt_width + k] = id as i64;
                mask[base + prompt_width + k] = 1;
            }
        }
        let input_ids = Tensor::from_data(TensorData::new(ids, [rows, width]), device);
        let attention_mask = Tensor::from_data(TensorData::new(mask, [rows, width]), device);
        Ok(Self {
            tokens: TokenBatch {
                input_ids,
                attention_mask,
            },
            response_start: prompt_width,
            response_lengths: responses.iter().map(Vec::len).collect(),
            reference_log_probs: None,
        })
    }

    /// Attaches `log π_θold` of the response tokens (`[n, R]`) for a policy reference.
    pub fn with_reference_log_probs(mut self, log_probs: Tensor<B, 2>) -> Self {
        self.reference_log_probs = Some(log_probs);
        self
    }

    /// Number of rows `n`.
    pub fn num_rows(&self) -> usize {
        self.response_lengths.len()
    }

    /// Checks the invariants and returns `n` and `R`.
    pub(crate) fn dims(&self) -> Result<BatchDims, PrmError> {
        let [rows, width] = self.tokens.input_ids.dims();
        let mask_dims = self.tokens.attention_mask.dims();
        if mask_dims != [rows, width] {
            return Err(PrmError::Batch(format!(
                "attention_mask is {mask_dims:?} but input_ids is {:?}",
                [rows, width]
            )));
        }
        if rows == 0 {
            return Err(PrmError::Batch("the batch has no rows".to_string()));
        }
        if self.response_lengths.len() != rows {
            return Err(PrmError::Batch(format!(
                "{} response_lengths for {rows} rows",
                self.response_lengths.len()
            )));
        }
        if self.response_start == 0 || self.response_start > width {
            return Err(PrmError::Batch(format!(
                "response_start {} must lie in 1..={width}",
                self.response_start
            )));
        }
        let response_width = width - self.response_start;
        if let Some((row, len)) = self
            .response_lengths
            .iter()
            .enumerate()
            .find(|(_, &len)| len > response_width)
        {
            return Err(PrmError::Batch(format!(
                "response_lengths[{row}] = {len} exceeds the response width {response_width}"
            )));
        }
        if let Some(log_probs) = &self.reference_log_probs {
            if log_probs.dims() != [rows, response_width] {
                return Err(PrmError::Batch(format!(
                    "reference_log_probs is {:?}, expected [{rows}, {response_width}]",
                    log_probs.dims()
                )));
            }
        }
        Ok(BatchDims {
            rows,
            response_width,
        })
    }

    /// Rows `range` as a batch of their own (the same columns).
    pub(crate) fn rows(&self, range: Range<usize>) -> Self {
        let width = self.tokens.input_ids.dims()[1];
        let slice_ids = |t: &Tensor<B, 2, Int>| t.clone().slice([range.clone(), 0..width]);
        Self {
            tokens: TokenBatch {
                input_ids: slice_ids(&self.tokens.input_ids),
                attention_mask: slice_ids(&self.tokens.attention_mask),
            },
            response_start: self.response_start,
            response_lengths: self.response_lengths[range.clone()].to_vec(),
            reference_log_probs: self.reference_log_probs.as_ref().map(|t| {
                let r = t.dims()[1];
                t.clone().slice([range.clone(), 0..r])
            }),
        }
    }

    /// `[n, R]` response mask `m_{i,t} = 1[t < L_i]` as floats.
    pub(crate) fn response_mask(&self, response_width: usize) -> Tensor<B, 2> {
        let rows = self.response_lengths.len();
        let values: Vec<f32> = self
            .response_lengths
            .iter()
            .flat_map(|&len| (0..response_width).map(move |t| if t < len { 1.0 } else { 0.0 }))
            .collect();
        Tensor::from_data(
            TensorData::new(values, [rows, response_width]),
            &self.tokens.input_ids.device(),
        )
    }
}

impl<B: AutodiffBackend> ResponseBatch<B> {
    /// The same batch on the inner (non-autodiff) backend, for inference forwards.
    pub fn inner(&self) -> ResponseBatch<B::InnerBackend> {
        ResponseBatch {
            tokens: TokenBatch {
                input_ids: self.tokens.input_ids.clone().inner(),
                attention_mask: self.tokens.attention_mask.clone().inner(),
            },
            response_start: self.response_start,
            response_lengths: self.response_lengths.clone(),
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
