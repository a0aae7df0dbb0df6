//! Optimiser helpers with PyTorch semantics, for the trainer and the implicit PRM.
//!
//! - [`clip_grad_norm`]: `torch.nn.utils.clip_grad_norm_` — one global L2 norm over all
//!   parameters (burn's own clipping is per tensor).
//! - [`adamw`]: `torch.optim.AdamW` hyper-parameters set explicitly (burn's defaults differ:
//!   ε = 1e-5, weight decay 1e-4), for [`FusedAdamW`]: burn's AdamW numerics and state, one
//!   in-place pass per parameter tensor on the CPU backend.

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

pub use crate::adamw_fused::{FusedAdamW, FusedAdamWConfig};

/// `torch.optim.AdamW(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay)` (the learning rate is
/// passed to `Optimizer::step`); [`FusedAdamWConfig::burn_config`] is the same as burn's
/// `AdamWConfig`.
pub fn adamw(weight_decay: f32) -> FusedAdamWConfig {
    FusedAdamWConfig {
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
        weight_decay,
    }
}

/// Scales all gradients of `module` by `min(1, max_norm / (‖g‖ + 1e-6))`, where `‖g‖` is the L2
/// norm of all gradients concatenated, and returns `‖g‖` before clipping.
///
/// Same rule as PyTorch's `clip_grad_norm_`. A non-finite norm is returned as is (the gradients
/// are then left unscaled), so the caller can skip the step.
pub fn clip_grad_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: GradientsParams,
    max_norm: f64,
) -> (GradientsParams, f64) {
    let mut squares = SumOfSquares::<B> {
        grads: &grads,
        total: None,
    };
    module.visit(&mut squares);
    let norm = match squares.total {
        Some(total) => total.into_scalar().elem::<f64>().sqrt(),
        None => 0.0,
    };
    let scale = max_norm / (norm + 1e-6);
    if !norm.is_finite() || scale >= 1.0 {
        return (grads, norm);
    }
    let mut scaler = Scale::<B> {
        grads,
        scale,
        _backend: std::marker::PhantomData,
    };
    module.visit(&mut scaler);
    (scaler.grads, norm)
}

/// Accumulates `Σ g²` over the module's parameters on the device (one host sync at the end).
struct SumOfSquares<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    total: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SumOfSquares<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let squares = grad.square().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total.add(squares),
                None => squares,
            });
        }
    }
}

/// Multiplies every parameter gradient by `scale`.
struct Scale<B: AutodiffBackend> {
    grads: GradientsParams,
    scale: f64,
    _backend: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let id: ParamId = param.id;
        if let Some(grad) = self.grads.remove::<B::InnerBackend, D>(id) {
            self.grads.register(id, grad.mul_scalar(self.scale));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};
    use burn::nn::LinearConfig;
    use burn::tensor::TensorData;

    type B = Autodiff<Flex>;

    /// Gradients of `sum(x·W + b)` for `x = [1, 2]`: `dW[i, j] = x_i`, `db = 1`, so
    /// `‖g‖² = 2·(1 + 4) + 2·1 = 12`.
    fn linear_and_grads() -> (burn::nn::Linear<B>, GradientsParams) {
        let device = Default::default();
        let linear = LinearConfig::new(2, 2).init::<B>(&device);
        let x = Tensor::<B, 2>::from_data(TensorData::from([[1.0f32, 2.0]]), &device);
        let grads = linear.forward(x).sum().backward();
        let grads = GradientsParams::from_grads(grads, &linear);
        (linear, grads)
    }

    fn grad_values(linear: &burn::nn::Linear<B>, grads: &GradientsParams) -> Vec<f32> {
        let w = grads
            .get::<Flex, 2>(linear.weight.id)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let b = grads
            .get::<Flex, 1>(linear.bias.as_ref().unwrap().id)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        [w, b].concat()
    }

    #[test]
    fn clips_by_the_global_norm_and_returns_it() {
        let (linear, grads) = linear_and_grads();
        let (clipped, norm) = clip_grad_norm(&linear, grads, 1.0);
        assert!((norm - 12f64.sqrt()).abs() < 1e-6, "{norm}");
        let scale = (1.0 / (12f64.sqrt() + 1e-6)) as f32;
        let expected = [1.0, 1.0, 2.0, 2.0, 1.0, 1.0].map(|g: f32| g * scale);
        for (got, want) in grad_values(&linear, &clipped).iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn leaves_small_gradients_alone() {
        let (linear, grads) = linear_and_grads();
        let (kept, norm) = clip_grad_norm(&linear, grads, 10.0);
        assert!((norm - 12f64.sqrt()).abs() < 1e-6);
        assert_eq!(
            grad_values(&linear, &kept),
            vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0]
        );
    }

    /// One step from `W`, `b` with gradients `dW[i, j] = x_i = (1e-5, 2e-5)`, `db = 1`.
    /// PyTorch AdamW, step 1: `m̂ = g`, `v̂ = g²`, so `p ← p·(1 − lr·wd) − lr·g / (|g| + ε)`;
    /// with ε = 1e-8 the tiny gradients move by ≈ lr (burn's default ε = 1e-5 would halve it).
    #[test]
    fn adamw_step_matches_the_pytorch_update() {
        use burn::optim::Optimizer;
        let device = Default::default();
        let linear = LinearConfig::new(2, 2).init::<B>(&device);
        let before = [
            linear.weight.val().into_data().to_vec::<f32>().unwrap(),
            linear
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .to_vec::<f32>()
                .unwrap(),
        ]
        .concat();
        let x = Tensor::<B, 2>::from_data(TensorData::from([[1e-5f32, 2e-5]]), &device);
        let grads = GradientsParams::from_grads(linear.forward(x).sum().backward(), &linear);
        let (lr, wd) = (0.1f64, 0.1f64);
        let mut optimizer = adamw(wd as f32).init::<B, burn::nn::Linear<B>>();
        let linear = optimizer.step(lr, linear, grads);
        let after = [
            linear.weight.val().into_data().to_vec::<f32>().unwrap(),
            linear
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .to_vec::<f32>()
                .unwrap(),
        ]
        .concat();
        let g = [1e-5f64, 1e-5, 2e-5, 2e-5, 1.0, 1.0];
        for ((p0, p1), g) in before.iter().zip(&after).zip(g) {
            let expected = *p0 as f64 * (1.0 - lr * wd) - lr * g / (g + 1e-8);
            assert!((*p1 as f64 - expected).abs() < 1e-6, "{p1} vs {expected}");
        }
    }
}
