//! Moving ragged host data in and out of `[rows, width]` tensors, and the policy's per-token
//! scores of response tokens.

use burn::tensor::{activation::log_softmax, backend::Backend, Int, Tensor, TensorData};
use prime_implicit_prm::ResponseBatch;
use prime_models::{CausalLm, TokenBatch};

/// Pads ragged rows with 0 to `width`, row-major `[rows.len(), width]`.
pub fn pad_rows(rows: &[Vec<f32>], width: usize) -> Vec<f32> {
    let mut flat = vec![0.0; rows.len() * width];
    for (i, row) in rows.iter().enumerate() {
        let n = row.len().min(width);
        flat[i * width..i * width + n].copy_from_slice(&row[..n]);
    }
    flat
}

/// A `[rows, width]` float tensor from row-major values.
pub fn tensor2<B: Backend>(
    flat: Vec<f32>,
    rows: usize,
    width: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(flat, [rows, width]), device)
}

/// `[rows, width]` mask `1[t < lengths[i]]`.
pub fn length_mask<B: Backend>(
    lengths: &[usize],
    width: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let flat: Vec<f32> = lengths
        .iter()
        .flat_map(|&l| (0..width).map(move |t| if t < l { 1.0 } else { 0.0 }))
        .collect();
    tensor2(flat, lengths.len(), width, device)
}

/// Ragged rows (each `lengths[i]` long) from a `[rows, width]` tensor.
pub fn to_ragged<B: Backend>(t: Tensor<B, 2>, lengths: &[usize]) -> Vec<Vec<f32>> {
    let width = t.dims()[1];
    let flat: Vec<f32> = t
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_default();
    lengths
        .iter()
        .enumerate()
        .map(|(i, &l)| flat[i * width..i * width + l.min(width)].to_vec())
        .collect()
}

/// Left-padded prompts (`pad_id` under mask 0), `[rows, longest]`.
pub fn left_padded<B: Backend>(
    prompts: &[&[u32]],
    pad_id: u32,
    device: &B::Device,
) -> TokenBatch<B> {
    let width = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
    let rows = prompts.len();
    let mut ids = vec![pad_id as i64; rows * width];
    let mut mask = vec![0i64; rows * width];
    for (r, p) in prompts.iter().enumerate() {
        let start = r * width + width - p.len();
        for (k, &id) in p.iter().enumerate() {
            ids[start + k] = id as i64;
            mask[start + k] = 1;
        }
    }
    TokenBatch {
        input_ids: Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [rows, width]), device),
        attention_mask: Tensor::<B, 2, Int>::from_data(
            TensorData::new(mask, [rows, width]),
            device,
        ),
    }
}

/// Per-token scores of the response tokens of `batch` under `model`, `[n, R]` each, 0 after `L_i`.
pub struct ResponseScores<B: Backend> {
    /// `log π(y_t | x, y_<t)`.
    pub log_probs: Tensor<B, 2>,
    /// Entropy of the distribution that predicts `y_t` (when asked for).
    pub entropy: Option<Tensor<B, 2>>,
    /// The response mask `m_{i,t}`.
    pub mask: Tensor<B, 2>,
}

/// One forward of `model` on `batch`; only the `R` response positions go through the softmax.
pub fn response_scores<B: Backend, M: CausalLm<B>>(
    model: &M,
    batch: &ResponseBatch<B>,
    with_entropy: bool,
) -> ResponseScores<B> {
    let [rows, width] = batch.tokens.input_ids.dims();
    let start = batch.response_start;
    let device = batch.tokens.input_ids.device();
    let logits = model.forward(&batch.tokens); // [n, P + R, V]
    let vocab = logits.dims()[2];
    let logits = logits.slice([0..rows, start - 1..width - 1, 0..vocab]); // [n, R, V]
    let targets = batch
        .tokens
        .input_ids
        .clone()
        .slice([0..rows, start..width])
        .unsqueeze_dim::<3>(2); // [n, R, 1]
    let log_p = log_softmax(logits, 2); // [n, R, V]
    let mask = length_mask::<B>(&batch.response_lengths, width - start, &device);
    let entropy = with_entropy.then(|| {
        log_p
            .clone()
            .exp()
            .mul(log_p.clone())
            .sum_dim(2)
            .squeeze_dim::<2>(2)
            .neg()
            .mul(mask.clone())
    });
    let log_probs = log_p
        .gather(2, targets)
        .squeeze_dim::<2>(2)
        .mul(mask.clone());
    ResponseScores {
        log_probs,
        entropy,
        mask,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn pad_and_unpad_round_trip() {
        let rows = vec![vec![1.0, 2.0], vec![3.0], vec![]];
        let flat = pad_rows(&rows, 3);
        assert_eq!(flat, vec![1.0, 2.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let t = tensor2::<Flex>(flat, 3, 3, &Default::default());
        assert_eq!(to_ragged(t, &[2, 1, 0]), rows);
    }

    #[test]
    fn left_padding_puts_prompts_at_the_right_edge() {
        let a = [5u32, 6, 7];
        let b = [8u32];
        let t = left_padded::<Flex>(&[&a, &b], 0, &Default::default());
        assert_eq!(
            t.input_ids
                .into_data()
                .convert::<i64>()
                .to_vec::<i64>()
                .unwrap(),
            vec![5, 6, 7, 0, 0, 8]
        );
        assert_eq!(
            t.attention_mask
                .into_data()
                .convert::<i64>()
                .to_vec::<i64>()
                .unwrap(),
            vec![1, 1, 1, 0, 0, 1]
        );
    }

    #[test]
    fn mask_marks_valid_tokens() {
        let m = length_mask::<Flex>(&[2, 0, 3], 3, &Default::default());
        assert_eq!(
            m.into_data().to_vec::<f32>().unwrap(),
            vec![1., 1., 0., 0., 0., 0., 1., 1., 1.]
        );
    }
}
