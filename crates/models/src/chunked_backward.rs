//! The autodiff node of [`crate::chunked_scores`]: a backward pass that, like the forward,
//! never holds more than one chunk's logits.
//!
//! Output `s = [lp, H]` (`[N, 2]`), incoming gradient `g = [g_lp, g_H]`. Per chunk of rows the
//! backward recomputes `z = h · W[:, ..L]`, `log p = z − lse`, `p = exp(log p)` and
//!
//! ```text
//! ∂lp/∂z = onehot(t) − p          ∂H/∂z = −p ⊙ (log p + H)
//! dz = g_lp · (onehot(t) − p) − g_H · p ⊙ (log p + H)        [c, L]
//! dh = dz · W[:, ..L]ᵀ                                        [c, H]
//! dW[:, ..L] += hᵀ · dz,  dW[:, L..] = 0                      [H, V]
//! ```
//!
//! burn's operations are generic over a `Backend`, and prime-models' functions are too; the
//! node exists only for `Autodiff<_>` backends. [`autodiff_scores`] finds out at run time
//! whether `B` is one of the autodiff backends this crate ships (by `TypeId`, through
//! `std::any::Any`, no `unsafe`) and otherwise answers `None`, so the caller runs the
//! decomposed forward.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::{backend::Backend, IndexingUpdateOp, Int, Tensor, TensorPrimitive};

use crate::backend_dispatch::cast;
use crate::chunked_scores::{chunked_forward, chunks, limited_head, ChunkSpec, ScoreInputs};
use crate::fused::fused_kernels_enabled;
use crate::log_probs_fused::chunk_logits_grad;

/// The chunked scores through the custom node when `B` is `Autodiff<Flex>` (with or without
/// balanced checkpointing; with feature `cuda`, also over CUDA); `None` for any other backend.
pub(crate) fn autodiff_scores<B: Backend>(
    inputs: &ScoreInputs<B>,
    spec: ChunkSpec,
) -> Option<Tensor<B, 2>> {
    type Cpu = crate::backend::CpuBackend;
    on::<B, Cpu, NoCheckpointing>(inputs, spec)
        .or_else(|| on::<B, Cpu, BalancedCheckpointing>(inputs, spec))
        .or_else(|| cuda_scores(inputs, spec))
}

#[cfg(feature = "cuda-backend")]
fn cuda_scores<B: Backend>(inputs: &ScoreInputs<B>, spec: ChunkSpec) -> Option<Tensor<B, 2>> {
    type Gpu = crate::backend::CudaBackend;
    on::<B, Gpu, NoCheckpointing>(inputs, spec)
        .or_else(|| on::<B, Gpu, BalancedCheckpointing>(inputs, spec))
}

#[cfg(not(feature = "cuda-backend"))]
fn cuda_scores<B: Backend>(_inputs: &ScoreInputs<B>, _spec: ChunkSpec) -> Option<Tensor<B, 2>> {
    None
}

/// The node's result if `B` is `Autodiff<I, C>`.
fn on<B: Backend, I: Backend, C: CheckpointStrategy>(
    inputs: &ScoreInputs<B>,
    spec: ChunkSpec,
) -> Option<Tensor<B, 2>> {
    let inputs: ScoreInputs<Autodiff<I, C>> = cast(inputs)?;
    cast(&scores_node::<I, C>(inputs, spec))
}

/// Runs the chunked forward on the inner backend and records one node with two parents
/// (`hidden`, `head`) whose backward is [`ChunkedScoresBackward`].
fn scores_node<I: Backend, C: CheckpointStrategy>(
    inputs: ScoreInputs<Autodiff<I, C>>,
    spec: ChunkSpec,
) -> Tensor<Autodiff<I, C>, 2> {
    let hidden = inputs.hidden.into_primitive().tensor();
    let head = inputs.head.into_primitive().tensor();
    let inner = ScoreInputs::<I> {
        hidden: Tensor::from_primitive(TensorPrimitive::Float(hidden.primitive.clone())),
        head: Tensor::from_primitive(TensorPrimitive::Float(head.primitive.clone())),
        targets: Tensor::from_primitive(inputs.targets.into_primitive()),
    };
    let forward = chunked_forward(&inner, spec);
    let output = forward.scores.into_primitive().tensor();
    let prep = ChunkedScoresBackward
        .prepare::<C>([hidden.node.clone(), head.node.clone()])
        .compute_bound()
        .stateful();
    let output = match prep {
        OpsKind::Tracked(prep) => {
            let state = ScoresState {
                inputs: inner,
                spec,
                log_sum_exp: forward.log_sum_exp,
                entropy: forward.entropy,
            };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// What the backward needs: `O(N·H + H·V + N)`, no logits.
#[derive(Debug, Clone)]
struct ScoresState<I: Backend> {
    /// Hidden rows `[N, H]`, head `[H, V]`, targets `[N]` (each below `spec.limit`).
    inputs: ScoreInputs<I>,
    spec: ChunkSpec,
    /// `[N, 1]`.
    log_sum_exp: Tensor<I, 2>,
    /// `[N, 1]`.
    entropy: Tensor<I, 2>,
}

/// The backward step of the chunked scores (see the module docs for the equations).
#[derive(Debug)]
struct ChunkedScoresBackward;

impl<I: Backend> Backward<I, 2> for ChunkedScoresBackward {
    type State = ScoresState<I>;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [hidden_node, head_node] = ops.parents;
        let grad =
            Tensor::<I, 2>::from_primitive(TensorPrimitive::Float(grads.consume::<I>(&ops.node)));
        let state = ops.state;
        let [rows, hidden_dim] = state.inputs.hidden.dims();
        let vocab = state.inputs.head.dims()[1];
        let limit = state.spec.limit.min(vocab);
        let head = limited_head(state.inputs.head, limit); // [H, L]
        let head_t = head.clone().transpose(); // [L, H]
        let mut d_hidden = Vec::new();
        let mut d_head: Option<Tensor<I, 2>> = None;
        for range in chunks(rows, state.spec.chunk) {
            let hidden = state
                .inputs
                .hidden
                .clone()
                .slice([range.clone(), 0..hidden_dim]);
            let g = grad.clone().slice([range.clone(), 0..2]); // [c, 2]
            let lse = state.log_sum_exp.clone().slice([range.clone(), 0..1]);
            let entropy = state.entropy.clone().slice([range.clone(), 0..1]);
            let targets = state.inputs.targets.clone().slice([range]);
            let logits = hidden.clone().matmul(head.clone()); // [c, L]
            let fused = if fused_kernels_enabled() {
                chunk_logits_grad(logits, &targets, &lse, &entropy, &g)
            } else {
                Err(logits)
            };
            let d_logits = fused
                .unwrap_or_else(|logits| decomposed_logits_grad(logits, targets, lse, entropy, g));
            if head_node.is_some() {
                let part = hidden.transpose().matmul(d_logits.clone()); // [H, L]
                d_head = Some(match d_head {
                    Some(sum) => sum.add(part),
                    None => part,
                });
            }
            if hidden_node.is_some() {
                d_hidden.push(d_logits.matmul(head_t.clone())); // [c, H]
            }
        }
        if let Some(node) = hidden_node {
            let d_hidden = Tensor::cat(d_hidden, 0);
            grads.register::<I>(node.id, d_hidden.into_primitive().tensor());
        }
        if let (Some(node), Some(d_head)) = (head_node, d_head) {
            let d_head = if limit < vocab {
                let zeros = Tensor::zeros([hidden_dim, vocab - limit], &d_head.device());
                Tensor::cat(vec![d_head, zeros], 1)
            } else {
                d_head
            };
            grads.register::<I>(node.id, d_head.into_primitive().tensor());
        }
    }
}

/// `∂L/∂z` (`[c, L]`) of one chunk with burn's ops: from its logits `z` (`[c, L]`), targets
/// (`[c]`), `lse` and `H` (`[c, 1]` each) and the incoming gradient `g` (`[c, 2]`).
fn decomposed_logits_grad<I: Backend>(
    logits: Tensor<I, 2>,
    targets: Tensor<I, 1, Int>,
    log_sum_exp: Tensor<I, 2>,
    entropy: Tensor<I, 2>,
    g: Tensor<I, 2>,
) -> Tensor<I, 2> {
    let c = targets.dims()[0];
    let g_lp = g.clone().slice([0..c, 0..1]); // [c, 1]
    let g_ent = g.slice([0..c, 1..2]); // [c, 1]
    let log_p = logits.sub(log_sum_exp); // [c, L]
    let p = log_p.clone().exp();
    // −p ⊙ (g_lp + g_H · (log p + H)), then + g_lp at the target.
    p.mul(log_p.add(entropy).mul(g_ent).add(g_lp.clone()))
        .neg()
        .scatter(1, targets.reshape([c, 1]), g_lp, IndexingUpdateOp::Add)
}
