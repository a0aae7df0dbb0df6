//! Causal grouped-query attention as one fused op on the CPU backend: one pass forward
//! ([`attention_rows::forward`]) and, under autodiff, one custom node whose backward is one more
//! pass ([`attention_rows::backward`]), instead of the head transposes, `repeat_kv` copies,
//! `q·kᵀ`, scale, mask, softmax and `·v` (and their backward nodes).
//!
//! The op reads `q`, `k`, `v` in the projections' layout (`[batch, n, heads · d]`) and writes
//! the context in it, ready for `o_proj`. The mask is a constant (no gradient). The backward
//! keeps the forward's probabilities (`[batch, heads, n, t]`, the size of one score tensor)
//! rather than recomputing them.
//!
//! Like [`crate::rms_norm_fused`], [`fused_attention`] finds out at run time (by `TypeId`) whether
//! `B` is [`CpuBackend`](crate::backend::CpuBackend) or `Autodiff<CpuBackend, _>` and answers
//! `None` for any other backend, non-`f32` tensors or inconsistent shapes, so the caller runs
//! the decomposed ops there. The forward is the same code with and without a graph, so plain
//! and autodiff scoring agree bit for bit.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::{backend::Backend, DType, Tensor, TensorPrimitive};
use burn_flex::FlexTensor;

use crate::attention_rows::{self, AttentionShape};
use crate::backend_dispatch::cast;
use crate::flex_buffers::{from_values, values_of};

type Cpu = crate::backend::CpuBackend;

/// `q`, `k`, `v` (`[batch, rows, heads · d]`) and the mask bias (`[batch, 1, n, t]`).
type Inputs<B> = (Tensor<B, 3>, Tensor<B, 3>, Tensor<B, 3>, Tensor<B, 4>);

/// `softmax(q·kᵀ/√d + mask_bias) · v` for every query head, fused, when `B` is the CPU backend
/// with or without autodiff and all inputs are `f32`; `None` otherwise.
///
/// - `q`: `[batch, n, heads · d]`; `k`, `v`: `[batch, t, kv_heads · d]` (query head `h` reads
///   key/value head `h / (heads / kv_heads)`);
/// - `mask_bias`: `[batch, 1, n, t]`, 0 or a large negative finite number;
/// - result: the context, `[batch, n, heads · d]`.
pub(crate) fn fused_attention<B: Backend>(
    q: &Tensor<B, 3>,
    k: &Tensor<B, 3>,
    v: &Tensor<B, 3>,
    mask_bias: &Tensor<B, 4>,
    heads: usize,
    kv_heads: usize,
) -> Option<Tensor<B, 3>> {
    let shape = attention_shape(q, k, v, mask_bias, heads, kv_heads)?;
    let inputs = (q.clone(), k.clone(), v.clone(), mask_bias.clone());
    if let Some((q, k, v, mask)) = cast::<_, Inputs<Cpu>>(&inputs) {
        let [q, k, v] = [q, k, v].map(|t| t.into_primitive().tensor());
        let mask = mask.into_primitive().tensor();
        let (context, _) = forward(&shape, &q, &k, &v, &mask);
        return cast(&Tensor::<Cpu, 3>::from_primitive(TensorPrimitive::Float(
            context,
        )));
    }
    on::<B, NoCheckpointing>(&inputs, shape)
        .or_else(|| on::<B, BalancedCheckpointing>(&inputs, shape))
}

/// The call's shape if the inputs are `f32` and consistent.
fn attention_shape<B: Backend>(
    q: &Tensor<B, 3>,
    k: &Tensor<B, 3>,
    v: &Tensor<B, 3>,
    mask_bias: &Tensor<B, 4>,
    heads: usize,
    kv_heads: usize,
) -> Option<AttentionShape> {
    let dtypes = [q.dtype(), k.dtype(), v.dtype(), mask_bias.dtype()];
    if dtypes != [DType::F32; 4] || heads == 0 || kv_heads == 0 || heads % kv_heads != 0 {
        return None;
    }
    let [batch, queries, width] = q.dims();
    let [_, keys, _] = k.dims();
    let head_dim = width / heads;
    let kv = [batch, keys, kv_heads * head_dim];
    let consistent = width % heads == 0
        && k.dims() == kv
        && v.dims() == kv
        && mask_bias.dims() == [batch, 1, queries, keys];
    consistent.then(|| AttentionShape {
        batch,
        queries,
        keys,
        heads,
        kv_heads,
        head_dim,
        scale: (head_dim as f64).powf(-0.5) as f32,
    })
}

/// The node's result if `B` is `Autodiff<Cpu, C>`.
fn on<B: Backend, C: CheckpointStrategy>(
    inputs: &Inputs<B>,
    shape: AttentionShape,
) -> Option<Tensor<B, 3>> {
    let (q, k, v, mask) = cast::<_, Inputs<Autodiff<Cpu, C>>>(inputs)?;
    cast(&node::<C>(q, k, v, mask, shape))
}

/// The fused forward: the context (`[batch, n, heads · d]`) and the probabilities.
fn forward(
    shape: &AttentionShape,
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    mask: &FlexTensor,
) -> (FlexTensor, Vec<f32>) {
    let (context, probs) = attention_rows::forward(
        shape,
        &values_of(q),
        &values_of(k),
        &values_of(v),
        &values_of(mask),
    );
    let dims = [shape.batch, shape.queries, shape.heads * shape.head_dim];
    (from_values(context, dims), probs)
}

/// Runs the fused forward and records one node with three parents (`q`, `k`, `v`) whose
/// backward is [`AttentionBackward`].
fn node<C: CheckpointStrategy>(
    q: Tensor<Autodiff<Cpu, C>, 3>,
    k: Tensor<Autodiff<Cpu, C>, 3>,
    v: Tensor<Autodiff<Cpu, C>, 3>,
    mask: Tensor<Autodiff<Cpu, C>, 4>,
    shape: AttentionShape,
) -> Tensor<Autodiff<Cpu, C>, 3> {
    let [q, k, v] = [q, k, v].map(|t| t.into_primitive().tensor());
    let mask = mask.into_primitive().tensor().primitive;
    let (output, probs) = forward(&shape, &q.primitive, &k.primitive, &v.primitive, &mask);
    let prep = AttentionBackward
        .prepare::<C>([q.node.clone(), k.node.clone(), v.node.clone()])
        .compute_bound()
        .stateful();
    let output = match prep {
        OpsKind::Tracked(prep) => {
            let state = AttentionState {
                q: q.primitive,
                k: k.primitive,
                v: v.primitive,
                probs,
                shape,
            };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// What the backward needs: the inputs and the probabilities, `O(batch · heads · n · t)`.
#[derive(Debug, Clone)]
struct AttentionState {
    /// `[batch, n, heads · d]`.
    q: FlexTensor,
    /// `[batch, t, kv_heads · d]`.
    k: FlexTensor,
    /// `[batch, t, kv_heads · d]`.
    v: FlexTensor,
    /// `P`, `[batch, heads, n, t]`.
    probs: Vec<f32>,
    shape: AttentionShape,
}

/// The backward step of the fused attention (equations in [`attention_rows`]).
#[derive(Debug)]
struct AttentionBackward;

impl Backward<Cpu, 3> for AttentionBackward {
    type State = AttentionState;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [q_node, k_node, v_node] = ops.parents;
        let grad = grads.consume::<Cpu>(&ops.node);
        let state = ops.state;
        let shape = state.shape;
        let (d_q, d_k, d_v) = attention_rows::backward(
            &shape,
            &values_of(&state.q),
            &values_of(&state.k),
            &values_of(&state.v),
            &state.probs,
            &values_of(&grad),
        );
        let q_dims = [shape.batch, shape.queries, shape.heads * shape.head_dim];
        let kv_dims = [shape.batch, shape.keys, shape.kv_heads * shape.head_dim];
        for (node, values, dims) in [
            (q_node, d_q, q_dims),
            (k_node, d_k, kv_dims),
            (v_node, d_v, kv_dims),
        ] {
            if let Some(node) = node {
                grads.register::<Cpu>(node.id, from_values(values, dims));
            }
        }
    }
}
