//! Moving ragged host data in and out of `[rows, width]` tensors, and the policy's per-token
//! scores of response tokens.

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use prime_models::TokenBatch;

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
