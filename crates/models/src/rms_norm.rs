//! Root-mean-square layer norm (Zhang & Sennrich 2019), as in Hugging Face `Qwen2RMSNorm`:
//! `y = x / sqrt(mean(x²) + ε) · w` over the last dimension.

use burn::module::{Module, Param};
use burn::tensor::{backend::Backend, Tensor};

use crate::rms_norm_fused::fused_rms_norm;

/// RMSNorm with a learned per-channel scale `weight` (`[hidden]`, HF name `….weight`).
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    /// Per-channel scale, `[hidden]`.
    pub weight: Param<Tensor<B, 1>>,
    /// ε added to the mean square.
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    /// A norm with unit scale.
    pub fn new(hidden: usize, eps: f64, device: &B::Device) -> Self {
        Self::from_weight(Tensor::ones([hidden], device), eps)
    }

    /// A norm with the given scale (`[hidden]`).
    pub fn from_weight(weight: Tensor<B, 1>, eps: f64) -> Self {
        Self {
            weight: Param::from_tensor(weight),
            eps,
        }
    }

    /// Normalises `x` (`[..., hidden]`) over its last dimension: one fused op with its own
    /// backward on the CPU backend (`rms_norm_fused.rs`) unless
    /// [`crate::fused::fused_kernels_enabled`] says no, [`Self::decomposed`] elsewhere.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        if crate::fused::fused_kernels_enabled() {
            if let Some(y) = fused_rms_norm(&x, &self.weight.val(), self.eps) {
                return y;
            }
        }
        self.decomposed(x)
    }

    /// [`Self::forward`] as five burn ops (square, mean, add-sqrt-recip, two products), on every
    /// backend: the reference the fused op is tested against.
    pub fn decomposed<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let mean_square = x.clone().square().mean_dim(D - 1); // [..., 1]
        let inverse_rms = mean_square.add_scalar(self.eps).sqrt().recip();
        let weight = self.weight.val().unsqueeze::<D>(); // [1, ..., hidden]
        x.mul(inverse_rms).mul(weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn matches_hand_computation() {
        let device = Default::default();
        let norm = RmsNorm::<Flex>::from_weight(
            Tensor::from_data(TensorData::from([1.0f32, 2.0]), &device),
            1e-6,
        );
        let x =
            Tensor::<Flex, 2>::from_data(TensorData::from([[3.0f32, 4.0], [0.0, 0.0]]), &device);
        let y: Vec<f32> = norm.decomposed(x).into_data().to_vec().unwrap();
        // mean square of (3, 4) = 12.5; rms = 3.5355339
        let rms = (12.5f32 + 1e-6).sqrt();
        let expected = [3.0 / rms, 2.0 * 4.0 / rms, 0.0, 0.0];
        for (got, want) in y.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }
}
