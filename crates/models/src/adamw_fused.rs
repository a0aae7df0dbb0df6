//! AdamW whose step on the CPU backend is one in-place pass over each parameter tensor, its
//! gradient and its two moments, in parallel blocks ([`FusedAdamW`]); burn's own AdamW math on
//! every other backend.
//!
//! burn's AdamW takes about a dozen allocating tensor ops per parameter (moment updates, bias
//! corrections, square root, division, decay, update). [`FusedAdamW`] is a burn
//! [`SimpleOptimizer`] whose state is burn's own [`AdamWState`], so the optimizer records, and
//! with them the `.mpk` files of [`crate::optim_state`], are the same as burn's AdamW ones: a
//! state saved by either loads into the other. Per element, in `f32`, in burn's order of
//! operations (so the result is bit-identical to burn's AdamW on the same inputs), at step `t`
//! with gradient `g`, learning rate `lr` and weight decay `λ`:
//!
//! ```text
//! m ← β₁·m + (1 − β₁)·g                       (m = v = 0 before the first step)
//! v ← β₂·v + (1 − β₂)·g²
//! δ = (m / (1 − β₁ᵗ)) / (sqrt(v / (1 − β₂ᵗ)) + ε)
//! p ← p·(1 − lr·λ) − lr·δ                     (decoupled weight decay; p unscaled when lr·λ = 0)
//! ```
//!
//! The parameter and the moments are updated in place when their buffers are not shared (the
//! usual case; a shared buffer is copied once, copy-on-write). Every value depends on its own
//! inputs only, so the result does not depend on the number of threads.

use std::any::Any;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::LearningRate;
use burn::optim::{AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, SimpleOptimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use crate::flex_buffers::{contiguous, values, values_mut, zeros};
use crate::fused::fused_kernels_enabled;
use crate::vector_math::at_widest_vector_width;

type Cpu = crate::backend::CpuBackend;

/// Values per parallel task.
const BLOCK: usize = 1 << 14;

/// AdamW's hyper-parameters (the learning rate is passed to each step); builds a
/// [`FusedAdamW`]. [`crate::optim::adamw`] gives PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedAdamWConfig {
    /// `β₁`, the first moment's decay.
    pub beta_1: f32,
    /// `β₂`, the second moment's decay.
    pub beta_2: f32,
    /// `ε`, added to the square root of the second moment.
    pub epsilon: f32,
    /// `λ`, the decoupled weight decay (scaled by the learning rate).
    pub weight_decay: f32,
}

impl FusedAdamWConfig {
    /// With `β₁` set.
    pub fn with_beta_1(self, beta_1: f32) -> Self {
        Self { beta_1, ..self }
    }

    /// With `β₂` set.
    pub fn with_beta_2(self, beta_2: f32) -> Self {
        Self { beta_2, ..self }
    }

    /// With `ε` set.
    pub fn with_epsilon(self, epsilon: f32) -> Self {
        Self { epsilon, ..self }
    }

    /// With `λ` set.
    pub fn with_weight_decay(self, weight_decay: f32) -> Self {
        Self {
            weight_decay,
            ..self
        }
    }

    /// burn's AdamW with the same hyper-parameters (the reference of the fused step).
    pub fn burn_config(&self) -> AdamWConfig {
        AdamWConfig::new()
            .with_beta_1(self.beta_1)
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
            .with_weight_decay(self.weight_decay)
    }

    /// The optimizer of one parameter tensor at a time.
    pub fn build(&self) -> FusedAdamW {
        FusedAdamW {
            config: *self,
            burn: self.burn_config().build(),
        }
    }

    /// The optimizer of a module `M` (burn's adaptor over [`FusedAdamW`]).
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
    ) -> OptimizerAdaptor<FusedAdamW, M, B> {
        OptimizerAdaptor::from(self.build())
    }
}

/// AdamW as a burn [`SimpleOptimizer`] with burn's [`AdamWState`]: one fused in-place pass per
/// parameter tensor on the CPU backend with `f32` tensors while
/// [`fused_kernels_enabled`], burn's [`AdamW`] otherwise (see the module docs).
#[derive(Clone)]
pub struct FusedAdamW {
    config: FusedAdamWConfig,
    burn: AdamW,
}

/// One parameter's step inputs: the parameter, its gradient and its state.
type Step<B, const D: usize> = (Tensor<B, D>, Tensor<B, D>, Option<AdamWState<B, D>>);
/// One parameter's step outputs: the parameter and its state.
type Stepped<B, const D: usize> = (Tensor<B, D>, Option<AdamWState<B, D>>);

impl<B: Backend> SimpleOptimizer<B> for FusedAdamW {
    type State<const D: usize> = AdamWState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let inputs: Step<B, D> = (tensor, grad, state);
        let inputs = if fused_kernels_enabled() && fusable(&inputs) {
            match retype::<_, Step<Cpu, D>>(inputs) {
                Ok(cpu) => return same_type::<Stepped<Cpu, D>, _>(self.fused_step(lr, cpu)),
                Err(other) => other,
            }
        } else {
            inputs
        };
        let (tensor, grad, state) = inputs;
        SimpleOptimizer::<B>::step(&self.burn, lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        <AdamW as SimpleOptimizer<B>>::to_device(state, device)
    }
}

impl FusedAdamW {
    /// The fused step on the CPU backend, for inputs that are [`fusable`].
    fn fused_step<const D: usize>(
        &self,
        lr: LearningRate,
        (tensor, grad, state): Step<Cpu, D>,
    ) -> Stepped<Cpu, D> {
        let dims = tensor.dims();
        let time = state.as_ref().map_or(0, |s| s.momentum.time) + 1;
        let mut param = contiguous(tensor.into_primitive().tensor());
        let grad = contiguous(grad.into_primitive().tensor());
        let (mut moment_1, mut moment_2) = match state {
            Some(state) => (
                contiguous(state.momentum.moment_1.into_primitive().tensor()),
                contiguous(state.momentum.moment_2.into_primitive().tensor()),
            ),
            None => (zeros(dims), zeros(dims)),
        };
        let hyper = Hyper::new(&self.config, lr, time);
        update(
            &hyper,
            values_mut(&mut param),
            values(&grad),
            values_mut(&mut moment_1),
            values_mut(&mut moment_2),
        );
        let wrap = |t: FlexTensor| Tensor::<Cpu, D>::from_primitive(TensorPrimitive::Float(t));
        let momentum = AdaptiveMomentumState::new(time, wrap(moment_1), wrap(moment_2));
        (wrap(param), Some(AdamWState::new(momentum)))
    }
}

/// Whether the fused step applies: all tensors `f32` and of the parameter's shape, and no
/// AMSGrad maximum in the state (which this AdamW never makes).
fn fusable<B: Backend, const D: usize>((tensor, grad, state): &Step<B, D>) -> bool {
    let dims = tensor.dims();
    let f32s = [tensor, grad]
        .into_iter()
        .chain(
            state
                .iter()
                .flat_map(|s| [&s.momentum.moment_1, &s.momentum.moment_2]),
        )
        .all(|t| t.dtype() == DType::F32 && t.dims() == dims);
    let amsgrad = state
        .as_ref()
        .is_some_and(|s| s.momentum.max_moment_2.is_some());
    f32s && !amsgrad
}

/// The per-step scalars, each rounded to `f32` as burn's AdamW rounds them.
struct Hyper {
    beta_1: f32,
    beta_2: f32,
    /// `1 − β₁`, `1 − β₂`.
    factor_1: f32,
    factor_2: f32,
    /// `1 − β₁ᵗ`, `1 − β₂ᵗ`.
    correction_1: f32,
    correction_2: f32,
    epsilon: f32,
    /// `1 − lr·λ` (exactly 1 when `lr·λ = 0`).
    keep: f32,
    lr: f32,
}

impl Hyper {
    fn new(config: &FusedAdamWConfig, lr: LearningRate, time: usize) -> Self {
        let t = time as i32;
        let decay = lr * f64::from(config.weight_decay);
        Self {
            beta_1: config.beta_1,
            beta_2: config.beta_2,
            factor_1: 1.0 - config.beta_1,
            factor_2: 1.0 - config.beta_2,
            correction_1: 1.0 - config.beta_1.powi(t),
            correction_2: 1.0 - config.beta_2.powi(t),
            epsilon: config.epsilon,
            keep: if decay == 0.0 {
                1.0
            } else {
                (1.0 - decay) as f32
            },
            lr: lr as f32,
        }
    }
}

/// The AdamW update of one block (equations in the module docs), in place.
#[inline(always)]
fn update_block(h: &Hyper, param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32]) {
    let n = param.len();
    let (grad, m, v) = (&grad[..n], &mut m[..n], &mut v[..n]);
    for i in 0..n {
        let g = grad[i];
        let m_i = m[i] * h.beta_1 + g * h.factor_1;
        let v_i = v[i] * h.beta_2 + g * g * h.factor_2;
        m[i] = m_i;
        v[i] = v_i;
        let delta = (m_i / h.correction_1) / ((v_i / h.correction_2).sqrt() + h.epsilon);
        param[i] = param[i] * h.keep - delta * h.lr;
    }
}

/// [`update_block`] over blocks of [`BLOCK`] values in parallel.
fn update(h: &Hyper, param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32]) {
    param
        .par_chunks_mut(BLOCK)
        .zip(grad.par_chunks(BLOCK))
        .zip(m.par_chunks_mut(BLOCK))
        .zip(v.par_chunks_mut(BLOCK))
        .for_each(|(((p, g), m), v)| widest_update(h, p, g, m, v));
}

at_widest_vector_width! {
    /// [`update_block`] at the widest vector width the CPU has. Its divisions and square root
    /// are exact IEEE operations, so every width gives the same bits (three divisions and a
    /// square root per value are what the step's time goes to).
    fn widest_update(
        h: &Hyper,
        param: &mut [f32],
        grad: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) => update_block
}

/// `value` as a `T` when its type is `T`, else `value` back.
fn retype<S: 'static, T: 'static>(value: S) -> Result<T, S> {
    let boxed: Box<dyn Any> = Box::new(value);
    match boxed.downcast::<T>() {
        Ok(value) => Ok(*value),
        Err(boxed) => Err(*boxed.downcast::<S>().expect("a boxed value keeps its type")),
    }
}

/// `value` as a `T`, where `S` and `T` are the same type (known from an earlier [`retype`]).
fn same_type<S: 'static, T: 'static>(value: S) -> T {
    match retype::<S, T>(value) {
        Ok(value) => value,
        Err(_) => unreachable!("same_type is called on equal types only"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vector_width_gives_the_same_bits() {
        let n = 1000;
        let wave = |k: f32, scale: f32| -> Vec<f32> {
            (0..n).map(|i| (i as f32 * k).sin() * scale).collect()
        };
        let config = crate::optim::adamw(0.1);
        let h = Hyper::new(&config, 1e-3, 3);
        let (grad, v) = (wave(0.3, 1e-3), wave(0.7, 1e-6));
        let mut narrow = (
            wave(0.1, 1.0),
            wave(0.2, 1e-3),
            v.iter().map(|x| x.abs()).collect::<Vec<f32>>(),
        );
        let mut wide = narrow.clone();
        update_block(&h, &mut narrow.0, &grad, &mut narrow.1, &mut narrow.2);
        widest_update(&h, &mut wide.0, &grad, &mut wide.1, &mut wide.2);
        assert_eq!(narrow, wide);
    }
}
