//! RMSNorm as one fused op on the CPU backend: one pass over the rows forward
//! ([`rms_norm_rows::forward`]) and, under autodiff, one custom node whose backward is one more
//! pass ([`rms_norm_rows::backward`]) instead of the graph of the five decomposed ops
//! (square, mean, add-sqrt-recip, two broadcast products) and their backward nodes.
//!
//! Like [`crate::chunked_backward`], [`fused_rms_norm`] finds out at run time (by `TypeId`,
//! through `std::any::Any`) whether `B` is [`CpuBackend`](crate::backend::CpuBackend) or
//! `Autodiff<CpuBackend, _>` (with or without balanced checkpointing) and answers `None` for
//! any other backend, or for non-`f32` tensors, so the caller runs the decomposed ops there.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::{backend::Backend, DType, Tensor, TensorData, TensorPrimitive};

use crate::backend_dispatch::cast;
use crate::rms_norm_rows;

type Cpu = crate::backend::CpuBackend;

/// `x` (`[..., H]`) and the scale (`[H]`).
type Inputs<B, const D: usize> = (Tensor<B, D>, Tensor<B, 1>);

/// `x / sqrt(mean(x²) + ε) · w` over the last dimension of `x` (`[..., H]`, rows `N` = the
/// product of the others) with scale `weight` (`[H]`), fused, when `B` is the CPU backend with
/// or without autodiff and both are `f32`; `None` otherwise.
pub(crate) fn fused_rms_norm<B: Backend, const D: usize>(
    x: &Tensor<B, D>,
    weight: &Tensor<B, 1>,
    eps: f64,
) -> Option<Tensor<B, D>> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return None;
    }
    let inputs = (x.clone(), weight.clone());
    if let Some((x, weight)) = cast::<_, Inputs<Cpu, D>>(&inputs) {
        return cast(&forward(x, weight, eps).0);
    }
    on::<B, NoCheckpointing, D>(&inputs, eps)
        .or_else(|| on::<B, BalancedCheckpointing, D>(&inputs, eps))
}

/// The node's result if `B` is `Autodiff<Cpu, C>`.
fn on<B: Backend, C: CheckpointStrategy, const D: usize>(
    inputs: &Inputs<B, D>,
    eps: f64,
) -> Option<Tensor<B, D>> {
    let (x, weight) = cast::<_, Inputs<Autodiff<Cpu, C>, D>>(inputs)?;
    cast(&node::<Cpu, C, D>(x, weight, eps))
}

/// The fused forward on the inner backend: `y` (`[..., H]`) and the inverse RMS per row (`[N]`).
fn forward<I: Backend, const D: usize>(
    x: Tensor<I, D>,
    weight: Tensor<I, 1>,
    eps: f64,
) -> (Tensor<I, D>, Vec<f32>) {
    let dims = x.dims();
    let device = x.device();
    let (y, inverse_rms) = rms_norm_rows::forward(&host(x), &host(weight), eps);
    (
        Tensor::from_data(TensorData::new(y, dims), &device),
        inverse_rms,
    )
}

/// Runs the fused forward on the inner backend and records one node with two parents (`x`,
/// `weight`) whose backward is [`RmsNormBackward`].
fn node<I: Backend, C: CheckpointStrategy, const D: usize>(
    x: Tensor<Autodiff<I, C>, D>,
    weight: Tensor<Autodiff<I, C>, 1>,
    eps: f64,
) -> Tensor<Autodiff<I, C>, D> {
    let x = x.into_primitive().tensor();
    let weight = weight.into_primitive().tensor();
    let x_inner = Tensor::<I, D>::from_primitive(TensorPrimitive::Float(x.primitive.clone()));
    let weight_inner =
        Tensor::<I, 1>::from_primitive(TensorPrimitive::Float(weight.primitive.clone()));
    let (y, inverse_rms) = forward(x_inner.clone(), weight_inner.clone(), eps);
    let output = y.into_primitive().tensor();
    let prep = RmsNormBackward::<D>
        .prepare::<C>([x.node.clone(), weight.node.clone()])
        .compute_bound()
        .stateful();
    let output = match prep {
        OpsKind::Tracked(prep) => {
            let state = RmsNormState {
                x: x_inner,
                weight: weight_inner,
                inverse_rms,
            };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// A tensor's `f32` values, row-major.
fn host<I: Backend, const D: usize>(tensor: Tensor<I, D>) -> Vec<f32> {
    tensor
        .into_data()
        .into_vec::<f32>()
        .expect("fused RMSNorm runs on f32 tensors only")
}

/// What the backward needs: the input, the scale and the inverse RMS, `O(N·H)`.
#[derive(Debug, Clone)]
struct RmsNormState<I: Backend, const D: usize> {
    /// `[..., H]`.
    x: Tensor<I, D>,
    /// `[H]`.
    weight: Tensor<I, 1>,
    /// `[N]`.
    inverse_rms: Vec<f32>,
}

/// The backward step of the fused RMSNorm (equations in [`rms_norm_rows`]).
#[derive(Debug)]
struct RmsNormBackward<const D: usize>;

impl<I: Backend, const D: usize> Backward<I, 2> for RmsNormBackward<D> {
    type State = RmsNormState<I, D>;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [x_node, weight_node] = ops.parents;
        let grad =
            Tensor::<I, D>::from_primitive(TensorPrimitive::Float(grads.consume::<I>(&ops.node)));
        let state = ops.state;
        let dims = state.x.dims();
        let device = grad.device();
        let (d_x, d_weight) = rms_norm_rows::backward(
            &host(state.x),
            &host(state.weight),
            &state.inverse_rms,
            &host(grad),
        );
        if let Some(node) = x_node {
            let d_x = Tensor::<I, D>::from_data(TensorData::new(d_x, dims), &device);
            grads.register::<I>(node.id, d_x.into_primitive().tensor());
        }
        if let Some(node) = weight_node {
            let d_weight =
                Tensor::<I, 1>::from_data(TensorData::new(d_weight, [dims[D - 1]]), &device);
            grads.register::<I>(node.id, d_weight.into_primitive().tensor());
        }
    }
}
