//! Moving ragged host rows (one value per response token) in and out of `[rows, width]` tensors.

use burn::tensor::{backend::Backend, Tensor, TensorData};

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

/// The ragged rows `rows` padded into a `[rows.len(), width]` tensor.
pub fn padded_tensor<B: Backend>(
    rows: &[Vec<f32>],
    width: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    tensor2(pad_rows(rows, width), rows.len(), width, device)
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn pad_and_unpad_round_trip() {
        let rows = vec![vec![1.0, 2.0], vec![3.0], vec![]];
        let flat = pad_rows(&rows, 3);
        assert_eq!(flat, vec![1.0, 2.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let t = padded_tensor::<Flex>(&rows, 3, &Default::default());
        assert_eq!(to_ragged(t, &[2, 1, 0]), rows);
    }
}
