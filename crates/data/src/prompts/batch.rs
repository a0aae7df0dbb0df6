//! Left-padded prompt batches.

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use prime_models::TokenBatch;

/// Prompts padded on the left to a common length, so every row's last token is the last
/// prompt token and generation continues all rows at the same position.
///
/// `input_ids[b]` = `[pad; seq_len - prompt_lens[b]] ++ prompt`,
/// `attention_mask[b]` = `[0; seq_len - prompt_lens[b]] ++ [1; prompt_lens[b]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptBatch {
    /// The dataset index of each row.
    pub indices: Vec<usize>,
    /// `[batch][seq_len]` token ids.
    pub input_ids: Vec<Vec<u32>>,
    /// `[batch][seq_len]` 1 for prompt tokens, 0 for padding.
    pub attention_mask: Vec<Vec<u32>>,
    /// Unpadded length of each prompt.
    pub prompt_lens: Vec<usize>,
}

impl PromptBatch {
    /// Left-pads `prompts` with `pad_token_id` to the longest one.
    pub fn left_padded<'a>(
        indices: Vec<usize>,
        prompts: impl Iterator<Item = &'a [u32]> + Clone,
        pad_token_id: u32,
    ) -> Self {
        let seq_len = prompts.clone().map(<[u32]>::len).max().unwrap_or(0);
        let mut input_ids = Vec::new();
        let mut attention_mask = Vec::new();
        let mut prompt_lens = Vec::new();
        for prompt in prompts {
            let pad = seq_len - prompt.len();
            let mut ids = vec![pad_token_id; pad];
            ids.extend_from_slice(prompt);
            let mut mask = vec![0; pad];
            mask.resize(seq_len, 1);
            input_ids.push(ids);
            attention_mask.push(mask);
            prompt_lens.push(prompt.len());
        }
        Self {
            indices,
            input_ids,
            attention_mask,
            prompt_lens,
        }
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }

    /// The padded length.
    pub fn seq_len(&self) -> usize {
        self.input_ids.first().map_or(0, Vec::len)
    }

    /// The batch as tensors on `device`: `input_ids` and `attention_mask`, both `[batch, seq_len]`.
    pub fn to_token_batch<B: Backend>(&self, device: &B::Device) -> TokenBatch<B> {
        let shape = [self.len(), self.seq_len()];
        let flat =
            |rows: &[Vec<u32>]| -> Vec<i64> { rows.iter().flatten().map(|&x| x as i64).collect() };
        TokenBatch {
            input_ids: Tensor::<B, 2, Int>::from_data(
                TensorData::new(flat(&self.input_ids), shape),
                device,
            ),
            attention_mask: Tensor::<B, 2, Int>::from_data(
                TensorData::new(flat(&self.attention_mask), shape),
                device,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_padding_by_hand() {
        let a = [5u32, 6, 7];
        let b = [8u32];
        let batch = PromptBatch::left_padded(vec![3, 1], [&a[..], &b[..]].into_iter(), 0);
        assert_eq!(batch.input_ids, vec![vec![5, 6, 7], vec![0, 0, 8]]);
        assert_eq!(batch.attention_mask, vec![vec![1, 1, 1], vec![0, 0, 1]]);
        assert_eq!(batch.prompt_lens, vec![3, 1]);
        assert_eq!(batch.indices, vec![3, 1]);
        assert_eq!(batch.seq_len(), 3);
    }
}
