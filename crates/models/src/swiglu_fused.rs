//! SwiGLU's element-wise middle `h = silu(a) ⊙ b` as one fused op on the CPU backend: one
//! parallel pass forward ([`swiglu_rows::forward`]) and, under autodiff, one custom node whose
//! backward is one more pass ([`swiglu_rows::backward`]) instead of the sigmoid and two
//! products and their three backward nodes.
//!
//! Like [`crate::rms_norm_fused`], [`fused_swiglu`] finds out at run time (by `TypeId`, through
//! [`cast`]) whether `B` is [`CpuBackend`](crate::backend::CpuBackend) or
//! `Autodiff<CpuBackend, _>` (with or without balanced checkpointing) and answers `None` for
//! any other backend, for non-`f32` tensors or for inputs of different shapes, so the caller
//! runs the decomposed ops there. The inputs are read in place when contiguous.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::{backend::Backend, DType, Tensor, TensorData, TensorPrimitive};
use burn_flex::FlexTensor;

use crate::backend_dispatch::cast;
use crate::flex_buffers::{contiguous, values, values_mut};
use crate::swiglu_rows;

type Cpu = crate::backend::CpuBackend;

/// The gate pre-activation `a` and the linear branch `b`, both `[..., I]`.
type Inputs<B, const D: usize> = (Tensor<B, D>, Tensor<B, D>);

/// `silu(gate) ⊙ up` (both `[..., I]`, equal shapes), fused, when `B` is the CPU backend with
/// or without autodiff and both are `f32`; `None` otherwise.
pub(crate) fn fused_swiglu<B: Backend, const D: usize>(
    gate: &Tensor<B, D>,
    up: &Tensor<B, D>,
) -> Option<Tensor<B, D>> {
    if gate.dtype() != DType::F32 || up.dtype() != DType::F32 || gate.dims() != up.dims() {
        return None;
    }
    let inputs = (gate.clone(), up.clone());
    if let Some((a, b)) = cast::<_, Inputs<Cpu, D>>(&inputs) {
        return cast(&forward(&a, &b));
    }
    on::<B, NoCheckpointing, D>(&inputs).or_else(|| on::<B, BalancedCheckpointing, D>(&inputs))
}

/// The node's result if `B` is `Autodiff<Cpu, C>`.
fn on<B: Backend, C: CheckpointStrategy, const D: usize>(
    inputs: &Inputs<B, D>,
) -> Option<Tensor<B, D>> {
    let (a, b) = cast::<_, Inputs<Autodiff<Cpu, C>, D>>(inputs)?;
    cast(&node::<C, D>(a, b))
}

/// A tensor's storage, contiguous (a copy only when the tensor is a strided view).
fn storage<const D: usize>(tensor: &Tensor<Cpu, D>) -> FlexTensor {
    contiguous(tensor.clone().into_primitive().tensor())
}

/// A row-major host buffer as a tensor of shape `dims`.
fn upload<const D: usize>(values: Vec<f32>, dims: [usize; D]) -> Tensor<Cpu, D> {
    Tensor::from_data(TensorData::new(values, dims), &Default::default())
}

/// The fused forward on the CPU backend.
fn forward<const D: usize>(a: &Tensor<Cpu, D>, b: &Tensor<Cpu, D>) -> Tensor<Cpu, D> {
    let (a_storage, b_storage) = (storage(a), storage(b));
    let h = swiglu_rows::forward(values(&a_storage), values(&b_storage));
    upload(h, a.dims())
}

/// Runs the fused forward on the inner backend and records one node with two parents (`a`,
/// `b`) whose backward is [`SwigluBackward`].
fn node<C: CheckpointStrategy, const D: usize>(
    a: Tensor<Autodiff<Cpu, C>, D>,
    b: Tensor<Autodiff<Cpu, C>, D>,
) -> Tensor<Autodiff<Cpu, C>, D> {
    let a = a.into_primitive().tensor();
    let b = b.into_primitive().tensor();
    let a_inner = Tensor::<Cpu, D>::from_primitive(TensorPrimitive::Float(a.primitive.clone()));
    let b_inner = Tensor::<Cpu, D>::from_primitive(TensorPrimitive::Float(b.primitive.clone()));
    let output = forward(&a_inner, &b_inner).into_primitive().tensor();
    let prep = SwigluBackward::<D>
        .prepare::<C>([a.node.clone(), b.node.clone()])
        .compute_bound()
        .stateful();
    let output = match prep {
        OpsKind::Tracked(prep) => prep.finish((a_inner, b_inner), output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// The backward step of the fused SwiGLU (equations in [`swiglu_rows`]); its state is the
/// forward's inputs `(a, b)`, shared with them (no copy). The gradients overwrite them in place
/// (the usual case: in the MLP block nothing else holds them by then; otherwise they are copied
/// first).
#[derive(Debug)]
struct SwigluBackward<const D: usize>;

impl<const D: usize> Backward<Cpu, 2> for SwigluBackward<D> {
    type State = Inputs<Cpu, D>;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [a_node, b_node] = ops.parents;
        let grad = Tensor::<Cpu, D>::from_primitive(TensorPrimitive::Float(
            grads.consume::<Cpu>(&ops.node),
        ));
        let (a, b) = ops.state;
        let (mut d_a, mut d_b, grad) = (storage(&a), storage(&b), storage(&grad));
        swiglu_rows::backward(values_mut(&mut d_a), values_mut(&mut d_b), values(&grad));
        if let Some(node) = a_node {
            grads.register::<Cpu>(node.id, d_a);
        }
        if let Some(node) = b_node {
            grads.register::<Cpu>(node.id, d_b);
        }
    }
}
