//! Rotary position embedding ([`crate::rotary`]) as one fused op on the CPU backend, in the
//! projections' layout `[batch, n, heads, d]` (no head transpose): one pass forward and, under
//! autodiff, one custom node whose backward is one more pass, instead of two slices, a negation,
//! a concatenation, two broadcast products and a sum (and their backward nodes).
//!
//! With `h = d/2`, the tables `c = cos`, `σ = sin` of the row's position (`[d]`, both halves
//! equal in the models) and `g = ∂L/∂y`:
//!
//! ```text
//! y[i]     = x[i] · c[i]         − x[i + h] · σ[i]         i < h
//! y[i + h] = x[i + h] · c[i + h] + x[i] · σ[i + h]
//! ∂L/∂x[i]     = g[i] · c[i]         + g[i + h] · σ[i + h]    (the transpose: a rotation by −θ)
//! ∂L/∂x[i + h] = g[i + h] · c[i + h] − g[i] · σ[i]
//! ```
//!
//! The forward rounds exactly as the decomposed ops do (`x·c + (−x₂)·σ`), so its values are
//! bit-identical to [`crate::RotaryEmbedding::apply`]. The tables are constants (no gradient).
//! Positions run in parallel with rayon, each on its own output rows.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::{backend::Backend, DType, Tensor, TensorPrimitive};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use crate::backend_dispatch::cast;
use crate::flex_buffers::{from_values, values_of};

type Cpu = crate::backend::CpuBackend;

/// `x` (`[batch, n, heads, d]`), `cos`, `sin` (`[batch, 1, n, d]`).
type Inputs<B> = (Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 4>);

/// Positions per rayon task (a few KiB of rows each).
const ROWS_PER_TASK: usize = 16;

/// Rotates `x` (`[batch, n, heads, d]`, `d` even) by the tables `cos`, `sin`
/// (`[batch, 1, n, d]`, from [`crate::RotaryEmbedding::cos_sin`]), fused, when `B` is the CPU
/// backend with or without autodiff and all are `f32`; `None` otherwise (or on other shapes).
pub(crate) fn fused_rotary<B: Backend>(
    x: &Tensor<B, 4>,
    cos: &Tensor<B, 4>,
    sin: &Tensor<B, 4>,
) -> Option<Tensor<B, 4>> {
    let dims = x.dims();
    let [batch, n, _, d] = dims;
    let table = [batch, 1, n, d];
    let f32s = [x.dtype(), cos.dtype(), sin.dtype()] == [DType::F32; 3];
    if !f32s || d % 2 != 0 || cos.dims() != table || sin.dims() != table {
        return None;
    }
    let inputs = (x.clone(), cos.clone(), sin.clone());
    if let Some((x, cos, sin)) = cast::<_, Inputs<Cpu>>(&inputs) {
        let [x, cos, sin] = [x, cos, sin].map(|t| t.into_primitive().tensor());
        return cast(&Tensor::<Cpu, 4>::from_primitive(TensorPrimitive::Float(
            rotate(&x, &cos, &sin, dims, false),
        )));
    }
    on::<B, NoCheckpointing>(&inputs).or_else(|| on::<B, BalancedCheckpointing>(&inputs))
}

/// The node's result if `B` is `Autodiff<Cpu, C>`.
fn on<B: Backend, C: CheckpointStrategy>(inputs: &Inputs<B>) -> Option<Tensor<B, 4>> {
    let (x, cos, sin) = cast::<_, Inputs<Autodiff<Cpu, C>>>(inputs)?;
    cast(&node::<C>(x, cos, sin))
}

/// The forward (or, `transpose`, the backward) pass on `x` (`dims` = `[batch, n, heads, d]`).
fn rotate(
    x: &FlexTensor,
    cos: &FlexTensor,
    sin: &FlexTensor,
    dims: [usize; 4],
    transpose: bool,
) -> FlexTensor {
    let row = dims[2] * dims[3];
    let y = rotate_rows(
        &values_of(x),
        &values_of(cos),
        &values_of(sin),
        row,
        transpose,
    );
    from_values(y, dims)
}

/// Runs the fused forward and records one node with one parent (`x`) whose backward is
/// [`RotaryBackward`].
fn node<C: CheckpointStrategy>(
    x: Tensor<Autodiff<Cpu, C>, 4>,
    cos: Tensor<Autodiff<Cpu, C>, 4>,
    sin: Tensor<Autodiff<Cpu, C>, 4>,
) -> Tensor<Autodiff<Cpu, C>, 4> {
    let dims = x.dims();
    let x = x.into_primitive().tensor();
    let cos = cos.into_primitive().tensor().primitive;
    let sin = sin.into_primitive().tensor().primitive;
    let output = rotate(&x.primitive, &cos, &sin, dims, false);
    let prep = RotaryBackward
        .prepare::<C>([x.node.clone()])
        .compute_bound()
        .stateful();
    let output = match prep {
        OpsKind::Tracked(prep) => prep.finish((cos, sin, dims), output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// The backward step of the fused rotary embedding: the transposed rotation of the gradient.
#[derive(Debug)]
struct RotaryBackward;

impl Backward<Cpu, 1> for RotaryBackward {
    /// `(cos, sin, dims of x)`.
    type State = (FlexTensor, FlexTensor, [usize; 4]);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [x_node] = ops.parents;
        let grad = grads.consume::<Cpu>(&ops.node);
        if let Some(node) = x_node {
            let (cos, sin, dims) = ops.state;
            grads.register::<Cpu>(node.id, rotate(&grad, &cos, &sin, dims, true));
        }
    }
}

/// The kernel: `x` is `[positions, row]` (`row` = heads · d), `cos`, `sin` `[positions, d]`;
/// the forward rotation, or its transpose when `transpose`.
pub(crate) fn rotate_rows(
    x: &[f32],
    cos: &[f32],
    sin: &[f32],
    row: usize,
    transpose: bool,
) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    let d = cos.len() / (x.len() / row.max(1)).max(1);
    let half = d / 2;
    if half == 0 || row == 0 {
        return y;
    }
    y.par_chunks_mut(row * ROWS_PER_TASK)
        .zip(x.par_chunks(row * ROWS_PER_TASK))
        .zip(cos.par_chunks(d * ROWS_PER_TASK))
        .zip(sin.par_chunks(d * ROWS_PER_TASK))
        .for_each(|(((y, x), cos), sin)| {
            let tables = cos.chunks_exact(d).zip(sin.chunks_exact(d));
            for ((y, x), (c, s)) in y.chunks_exact_mut(row).zip(x.chunks_exact(row)).zip(tables) {
                let (c1, c2) = c.split_at(half);
                let (s1, s2) = s.split_at(half);
                for (y, x) in y.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
                    let (x1, x2) = x.split_at(half);
                    let (y1, y2) = y.split_at_mut(half);
                    if transpose {
                        for i in 0..half {
                            y1[i] = x1[i] * c1[i] + x2[i] * s2[i];
                            y2[i] = x2[i] * c2[i] - x1[i] * s1[i];
                        }
                    } else {
                        for i in 0..half {
                            y1[i] = x1[i] * c1[i] - x2[i] * s1[i];
                            y2[i] = x2[i] * c2[i] + x1[i] * s2[i];
                        }
                    }
                }
            }
        });
    y
}
