//! [`ResponseBatch`]: prompt + response rows, the input of every per-response-token score (old
//! and new policy log-probs, the implicit PRM, the frozen reference, SFT).

use std::ops::Range;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};

use crate::{ModelError, TokenBatch};

/// Prompt + response rows.
///
/// Layout of `tokens` (`[n, P + R]`): columns `0..P` hold the prompt, left-padded; columns
/// `P..P + R` hold the response, right-padded. Row `i`'s valid response tokens are the first
/// `response_lengths[i]` columns after `response_start = P` (`L_i`, counting an EOS token if one
/// was generated). Padding after `L_i` never influences a score: the model is causal and scores
/// are masked by `L_i`.
#[derive(Debug, Clone)]
pub struct ResponseBatch<B: Backend> {
    /// `[n, P + R]` token ids and attention mask.
    pub tokens: TokenBatch<B>,
    /// `P`, the first response column; at least 1 (a response needs a context to be scored).
    pub response_start: usize,
    /// `L_i` for each row, each at most `R`.
    pub response_lengths: Vec<usize>,
    /// The responses were sampled from the ids below this limit (the tokenizer's size, see
    /// [`crate::SamplingConfig::vocab_limit`]): [`crate::response_scores`] scores them under the
    /// model's distribution over those ids. `None`: over every row of the model's vocabulary.
    pub vocab_limit: Option<usize>,
    /// Score `logprob_chunk` response tokens at a time from the model's hidden states
    /// ([`crate::CausalLm::hidden_states`]), so that `[n, P + R, vocab]` logits never exist, in
    /// the forward nor (under the autodiff backends of [`crate::backend`]) in the backward
    /// pass. 0 (the default): one forward to the full logits.
    pub logprob_chunk: usize,
}

/// The shape of a validated [`ResponseBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseDims {
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
    pub fn from_ids<P: AsRef<[u32]>, R: AsRef<[u32]>>(
        prompts: &[P],
        responses: &[R],
        pad_id: u32,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        if prompts.len() != responses.len() {
            return Err(ModelError::Batch(format!(
                "{} prompts but {} responses",
                prompts.len(),
                responses.len()
            )));
        }
        if prompts.is_empty() {
            return Err(ModelError::Batch("the batch has no rows".to_string()));
        }
        if let Some(row) = prompts.iter().position(|p| p.as_ref().is_empty()) {
            return Err(ModelError::Batch(format!("prompt of row {row} is empty")));
        }
        let prompt_width = prompts.iter().map(|p| p.as_ref().len()).max().unwrap_or(0);
        let response_width = responses
            .iter()
            .map(|r| r.as_ref().len())
            .max()
            .unwrap_or(0);
        let width = prompt_width + response_width;
        let rows = prompts.len();
        let mut ids = vec![pad_id as i64; rows * width];
        let mut mask = vec![0i64; rows * width];
        for (row, (prompt, response)) in prompts.iter().zip(responses).enumerate() {
            let (prompt, response) = (prompt.as_ref(), response.as_ref());
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
        Ok(Self {
            tokens: TokenBatch {
                input_ids: Tensor::from_data(TensorData::new(ids, [rows, width]), device),
                attention_mask: Tensor::from_data(TensorData::new(mask, [rows, width]), device),
            },
            response_start: prompt_width,
            response_lengths: responses.iter().map(|r| r.as_ref().len()).collect(),
            vocab_limit: None,
            logprob_chunk: 0,
        })
    }

    /// The same batch, scored over the ids below `vocab_limit` (see [`Self::vocab_limit`]).
    pub fn with_vocab_limit(self, vocab_limit: Option<usize>) -> Self {
        Self {
            vocab_limit,
            ..self
        }
    }

    /// The same batch, scored `logprob_chunk` tokens at a time (see [`Self::logprob_chunk`]).
    pub fn with_logprob_chunk(self, logprob_chunk: usize) -> Self {
        Self {
            logprob_chunk,
            ..self
        }
    }

    /// Number of rows `n`.
    pub fn num_rows(&self) -> usize {
        self.response_lengths.len()
    }

    /// Checks the invariants (shapes agree, `1 ≤ P`, every `L_i ≤ R`) and returns `n` and `R`.
    pub fn dims(&self) -> Result<ResponseDims, ModelError> {
        let [rows, width] = self.tokens.input_ids.dims();
        let mask_dims = self.tokens.attention_mask.dims();
        if mask_dims != [rows, width] {
            return Err(ModelError::Batch(format!(
                "attention_mask is {mask_dims:?} but input_ids is {:?}",
                [rows, width]
            )));
        }
        if rows == 0 {
            return Err(ModelError::Batch("the batch has no rows".to_string()));
        }
        if self.response_lengths.len() != rows {
            return Err(ModelError::Batch(format!(
                "{} response_lengths for {rows} rows",
                self.response_lengths.len()
            )));
        }
        if self.response_start == 0 || self.response_start > width {
            return Err(ModelError::Batch(format!(
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
            return Err(ModelError::Batch(format!(
                "response_lengths[{row}] = {len} exceeds the response width {response_width}"
            )));
        }
        Ok(ResponseDims {
            rows,
            response_width,
        })
    }

    /// Rows `range` as a batch of their own (the same columns).
    pub fn rows(&self, range: Range<usize>) -> Self {
        let width = self.tokens.input_ids.dims()[1];
        let slice = |t: &Tensor<B, 2, Int>| t.clone().slice([range.clone(), 0..width]);
        Self {
            tokens: TokenBatch {
                input_ids: slice(&self.tokens.input_ids),
                attention_mask: slice(&self.tokens.attention_mask),
            },
            response_start: self.response_start,
            response_lengths: self.response_lengths[range].to_vec(),
            vocab_limit: self.vocab_limit,
            logprob_chunk: self.logprob_chunk,
        }
    }

    /// `[n, R]` response mask `m_{i,t} = 1[t < L_i]` as floats.
    pub fn response_mask(&self, response_width: usize) -> Tensor<B, 2> {
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
            vocab_limit: self.vocab_limit,
            logprob_chunk: self.logprob_chunk,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn ids(t: Tensor<Flex, 2, Int>) -> Vec<i64> {
        t.into_data().convert::<i64>().to_vec::<i64>().unwrap()
    }

    #[test]
    fn prompts_left_padded_responses_right_padded() {
        let batch = ResponseBatch::<Flex>::from_ids(
            &[vec![5u32, 6], vec![7]],
            &[vec![1u32], vec![2, 3]],
            0,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(
            ids(batch.tokens.input_ids.clone()),
            [5, 6, 1, 0, 0, 7, 2, 3]
        );
        assert_eq!(
            ids(batch.tokens.attention_mask.clone()),
            [1, 1, 1, 0, 0, 1, 1, 1]
        );
        assert_eq!(batch.response_start, 2);
        assert_eq!(
            batch.dims().unwrap(),
            ResponseDims {
                rows: 2,
                response_width: 2
            }
        );
        let second = batch.rows(1..2);
        assert_eq!(ids(second.tokens.input_ids), [0, 7, 2, 3]);
        assert_eq!(second.response_lengths, [2]);
    }

    #[test]
    fn malformed_batches_are_errors() {
        let device = Default::default();
        let empty_prompt =
            ResponseBatch::<Flex>::from_ids(&[Vec::<u32>::new()], &[vec![1u32]], 0, &device);
        assert!(empty_prompt.unwrap_err().to_string().contains("row 0"));
        let uneven =
            ResponseBatch::<Flex>::from_ids(&[vec![1u32]], &[vec![1u32], vec![2]], 0, &device);
        assert!(uneven
            .unwrap_err()
            .to_string()
            .contains("1 prompts but 2 responses"));
        let mut batch =
            ResponseBatch::<Flex>::from_ids(&[vec![1u32]], &[vec![2u32]], 0, &device).unwrap();
        batch.response_lengths[0] = 3;
        assert!(batch.dims().unwrap_err().to_string().contains("exceeds"));
    }
}
