//! [`HostTensor`]: a tensor's values on the host, the unit of checkpoint reading and writing.

use burn::tensor::{backend::Backend, Tensor, TensorData};

/// A row-major `f32` tensor on the host, named by its Hugging Face name when saved.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values, row-major.
    pub values: Vec<f32>,
}

impl HostTensor {
    /// Reads a burn tensor back to the host.
    pub fn from_tensor<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Self {
        let shape = tensor.dims().to_vec();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap_or_default();
        Self { shape, values }
    }

    /// The transpose of a matrix (`[rows, cols]` → `[cols, rows]`).
    pub fn transposed(&self) -> Self {
        let (rows, cols) = (self.shape[0], self.shape[1]);
        let mut values = vec![0.0; self.values.len()];
        for r in 0..rows {
            for c in 0..cols {
                values[c * rows + r] = self.values[r * cols + c];
            }
        }
        Self {
            shape: vec![cols, rows],
            values,
        }
    }

    /// Uploads to `device` as a rank-`D` tensor.
    pub fn to_tensor<B: Backend, const D: usize>(self, device: &B::Device) -> Tensor<B, D> {
        Tensor::from_data(TensorData::new(self.values, self.shape), device)
    }
}
