//! Rotary position embeddings (Su et al. 2021) in the Hugging Face "rotate half" convention.
//!
//! Channel `i` of the first half of a head is paired with channel `i + d/2` (not with `i + 1` as in
//! burn's `RotaryEncoding`):
//! `rope(x) = x · cos(p·f) + rotate_half(x) · sin(p·f)`, `rotate_half(x) = [−x₂, x₁]`,
//! `f_i = θ^(−2i/d)` for `i < d/2`, repeated for both halves.

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};

use crate::{llama, Qwen2Config};

/// Precomputed inverse frequencies of one head width.
#[derive(Debug, Clone)]
pub struct RotaryEmbedding {
    /// `f_i = θ^(−2i/d)`, `[d/2]`.
    inv_freq: Vec<f32>,
}

impl RotaryEmbedding {
    /// Frequencies for heads of width `head_dim` (even) and base `theta`.
    pub fn new(head_dim: usize, theta: f64) -> Self {
        let inv_freq = (0..head_dim / 2)
            .map(|i| {
                let exponent = (2 * i) as f32 / head_dim as f32;
                1.0 / (theta as f32).powf(exponent)
            })
            .collect();
        Self { inv_freq }
    }

    /// The frequencies of `config`'s heads: base `rope_theta`, then Llama-3 scaling if the
    /// config has it.
    pub fn of(config: &Qwen2Config) -> Self {
        let rope = Self::new(config.head_dim, config.rope_theta);
        match &config.rope_scaling {
            Some(scaling) => Self {
                inv_freq: llama::scale_inv_freq(&rope.inv_freq, scaling),
            },
            None => rope,
        }
    }

    /// `(cos, sin)` tables for `positions` (`[batch, seq]`), each `[batch, 1, seq, head_dim]`.
    pub fn cos_sin<B: Backend>(
        &self,
        positions: Tensor<B, 2, Int>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let device = positions.device();
        let half = self.inv_freq.len();
        let inv_freq =
            Tensor::<B, 1>::from_data(TensorData::new(self.inv_freq.clone(), [half]), &device)
                .reshape([1, 1, half]);
        let angles = positions.float().unsqueeze_dim::<3>(2).mul(inv_freq); // [batch, seq, d/2]
        let angles = Tensor::cat(vec![angles.clone(), angles], 2).unsqueeze_dim::<4>(1);
        (angles.clone().cos(), angles.sin())
    }

    /// Rotates `x` (`[batch, heads, seq, head_dim]`) by the tables from [`Self::cos_sin`].
    pub fn apply<B: Backend>(
        x: Tensor<B, 4>,
        cos: &Tensor<B, 4>,
        sin: &Tensor<B, 4>,
    ) -> Tensor<B, 4> {
        let [batch, heads, seq, dim] = x.dims();
        let half = dim / 2;
        let first = x.clone().slice([0..batch, 0..heads, 0..seq, 0..half]);
        let second = x.clone().slice([0..batch, 0..heads, 0..seq, half..dim]);
        let rotated = Tensor::cat(vec![second.neg(), first], 3);
        x.mul(cos.clone()).add(rotated.mul(sin.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn rotates_pairs_i_and_i_plus_half() {
        let device = Default::default();
        let rope = RotaryEmbedding::new(4, 100.0);
        // f = [1, 100^(-1/2) = 0.1]
        let positions = Tensor::<Flex, 2, Int>::from_data(TensorData::from([[0i64, 2]]), &device);
        let (cos, sin) = rope.cos_sin(positions);
        let x = Tensor::<Flex, 4>::from_data(
            TensorData::new(
                vec![1.0f32, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0],
                [1, 1, 2, 4],
            ),
            &device,
        );
        let y: Vec<f32> = RotaryEmbedding::apply(x, &cos, &sin)
            .into_data()
            .to_vec()
            .unwrap();
        // Position 0: identity.
        assert_eq!(&y[..4], &[1.0, 2.0, 3.0, 4.0]);
        // Position 2: pairs (x0, x2) rotated by 2·1, (x1, x3) by 2·0.1.
        let (c0, s0) = (2.0f32.cos(), 2.0f32.sin());
        let (c1, s1) = (0.2f32.cos(), 0.2f32.sin());
        let expected = [
            1.0 * c0 - 3.0 * s0,
            2.0 * c1 - 4.0 * s1,
            3.0 * c0 + 1.0 * s0,
            4.0 * c1 + 2.0 * s1,
        ];
        for (got, want) in y[4..].iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }
}
