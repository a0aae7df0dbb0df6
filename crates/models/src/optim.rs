//! Optimiser helpers with PyTorch semantics, for the trainer and the implicit PRM.
//!
//! - [`clip_grad_norm`]: `torch.nn.utils.clip_grad_norm_` — one global L2 norm over all
//!   parameters (burn's own clipping is per tensor).
//! - [`adamw`]: `torch.optim.AdamW` hyper-parameters set explicitly (burn's defaults differ:
//!   ε = 1e-5, weight decay 1e-4).

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

/// `torch.optim.AdamW(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay)` as a burn config
/// (the learning rate is passed to `Optimizer::step`).
pub fn adamw(weight_decay: f32) -> AdamWConfig {
    AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .with_weight_decay(weight_decay)
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
