//! Token log-probs (and entropies) as one fused op on the CPU backend: one pass per row of
//! logits forward ([`log_probs_rows::forward`]: max, `ln Σ exp`, the target's log-prob and
//! `Σ p·z`) and, under autodiff, one custom node whose backward is one more pass per row
//! ([`log_probs_rows::backward`]), instead of the `[rows, vocab]` tensors of the decomposed
//! log-softmax, exp, product, sum and gather, and their backward nodes.
//!
//! The node keeps the logits it was given (the LM head's output, alive anyway) and two floats
//! per row, and recomputes `p` in the backward. Like [`crate::rms_norm_fused`], the entry points
//! find out at run time (by `TypeId`, through [`cast`]) whether `B` is
//! [`CpuBackend`](crate::backend::CpuBackend) or `Autodiff<CpuBackend, _>` (with or without
//! balanced checkpointing), and answer `None` for any other backend or for non-`f32` logits, so
//! the caller runs the decomposed ops there. The callers consult
//! [`crate::fused::fused_kernels_enabled`] first.
//!
//! The chunked scores ([`crate::chunked_scores`], [`crate::chunked_backward`]) call the same
//! row kernels on each chunk's logits through [`chunk_scores`] and [`chunk_logits_grad`].

use std::ops::Range;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::{
    backend::Backend, DType, Int, Tensor, TensorData, TensorMetadata, TensorPrimitive,
};
use burn_flex::FlexTensor;

use crate::backend_dispatch::cast;
use crate::flex_buffers::{contiguous, values_of};
use crate::log_probs_rows::{self, RowStats, Rows, Target};
use crate::TokenBatch;

type Cpu = crate::backend::CpuBackend;

/// Scores `[b, len]` each: `log p` of the next token, and the entropy when asked for.
pub(crate) type NextTokenScores<B> = (Tensor<B, 2>, Option<Tensor<B, 2>>);

/// The scores of the predictions made at `positions` of `logits` (`[b, S, V]`): column `k` of
/// row `i` is `log p(input_ids[i, j + 1])` under the softmax of `logits[i, j, ..limit]`,
/// `j = positions.start + k`, and its entropy (when `with_entropy`); both 0 where
/// `attention_mask[i, j + 1] = 0`, and the log-prob `−∞` for a token at or past `limit`.
///
/// Fused when `B` is the CPU backend with or without autodiff and the logits are `f32`;
/// `None` otherwise (and for an empty or out-of-range `positions`: `positions.end < S`).
pub(crate) fn fused_next_token_scores<B: Backend>(
    logits: &Tensor<B, 3>,
    batch: &TokenBatch<B>,
    positions: Range<usize>,
    limit: usize,
    with_entropy: bool,
) -> Option<NextTokenScores<B>> {
    let [rows, seq, vocab] = logits.dims();
    if logits.dtype() != DType::F32
        || positions.is_empty()
        || positions.end >= seq
        || batch.input_ids.dims() != [rows, seq]
        || batch.attention_mask.dims() != [rows, seq]
    {
        return None;
    }
    let spec = Rows {
        vocab,
        limit: limit.clamp(1, vocab.max(1)),
        with_entropy,
    };
    let targets = || next_token_targets(batch, positions.clone(), spec.limit);
    let scores: Tensor<B, 2> = if let Some(logits) = cast::<_, Tensor<Cpu, 3>>(logits) {
        let logits = contiguous(logits.into_primitive().tensor());
        let (scores, _) = forward(&logits, &targets()?, spec);
        cast(&Tensor::<Cpu, 2>::from_primitive(TensorPrimitive::Float(
            scores,
        )))?
    } else {
        on::<B, NoCheckpointing>(logits, &targets, spec)
            .or_else(|| on::<B, BalancedCheckpointing>(logits, &targets, spec))?
    };
    let scores = scores.reshape([rows, seq, 2]);
    let len = positions.len();
    let column = |c: usize| {
        scores
            .clone()
            .slice([0..rows, positions.clone(), c..c + 1])
            .reshape([rows, len])
    };
    Some((column(0), with_entropy.then(|| column(1))))
}

/// The node's `[b·S, 2]` scores if `B` is `Autodiff<Cpu, C>`.
fn on<B: Backend, C: CheckpointStrategy>(
    logits: &Tensor<B, 3>,
    targets: &dyn Fn() -> Option<Vec<Target>>,
    spec: Rows,
) -> Option<Tensor<B, 2>> {
    let logits = cast::<_, Tensor<Autodiff<Cpu, C>, 3>>(logits)?;
    cast(&node::<C>(logits, targets()?, spec))
}

/// One [`Target`] per row of the `[b, S]` positions: the token at `j + 1` for `j` in
/// `positions`, [`Target::Skip`] elsewhere.
fn next_token_targets<B: Backend>(
    batch: &TokenBatch<B>,
    positions: Range<usize>,
    limit: usize,
) -> Option<Vec<Target>> {
    let [rows, seq] = batch.input_ids.dims();
    let ids = int_values(batch.input_ids.clone())?;
    let mask = int_values(batch.attention_mask.clone())?;
    let mut targets = vec![Target::Skip; rows * seq];
    for i in 0..rows {
        for j in positions.clone() {
            let next = i * seq + j + 1;
            targets[i * seq + j] = Target::new(ids[next], mask[next], limit);
        }
    }
    Some(targets)
}

/// An integer tensor's values as `i64`, row-major.
fn int_values<B: Backend, const D: usize>(tensor: Tensor<B, D, Int>) -> Option<Vec<i64>> {
    tensor.into_data().convert::<i64>().into_vec::<i64>().ok()
}

/// The row kernel's forward on `logits` (`[..., V]`): `[N, 2]` scores and the row statistics.
fn forward(logits: &FlexTensor, targets: &[Target], spec: Rows) -> (FlexTensor, Vec<RowStats>) {
    let (scores, stats) = log_probs_rows::forward(&values_of(logits), targets, spec);
    let scores = FlexTensor::from_data(TensorData::new(scores, [targets.len(), 2]));
    (scores, stats)
}

/// Runs the fused forward on the inner backend and records one node with the logits as its
/// parent, whose backward is [`LogProbsBackward`].
fn node<C: CheckpointStrategy>(
    logits: Tensor<Autodiff<Cpu, C>, 3>,
    targets: Vec<Target>,
    spec: Rows,
) -> Tensor<Autodiff<Cpu, C>, 2> {
    let logits = logits.into_primitive().tensor();
    let inner = contiguous(logits.primitive.clone());
    let (scores, stats) = forward(&inner, &targets, spec);
    let prep = LogProbsBackward
        .prepare::<C>([logits.node.clone()])
        .compute_bound()
        .stateful();
    let output = match prep {
        OpsKind::Tracked(prep) => {
            let state = LogProbsState {
                logits: inner,
                targets,
                stats,
                spec,
            };
            prep.finish(state, scores)
        }
        OpsKind::UnTracked(prep) => prep.finish(scores),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// What the backward needs: the logits (shared with the LM head's output, not copied), the
/// targets and two floats (three with the entropy) per row.
#[derive(Debug, Clone)]
struct LogProbsState {
    /// `[b, S, V]`, contiguous.
    logits: FlexTensor,
    /// `[b·S]`.
    targets: Vec<Target>,
    /// `[b·S]`.
    stats: Vec<RowStats>,
    spec: Rows,
}

/// The backward step of the fused token scores (equations in [`log_probs_rows`]).
#[derive(Debug)]
struct LogProbsBackward;

impl Backward<Cpu, 1> for LogProbsBackward {
    type State = LogProbsState;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [logits_node] = ops.parents;
        let grad = grads.consume::<Cpu>(&ops.node); // [b·S, 2]
        let Some(logits_node) = logits_node else {
            return;
        };
        let state = ops.state;
        let grad = values_of(&grad);
        let d_logits = gradient_over(
            state.logits,
            &state.targets,
            &state.stats,
            &grad,
            state.spec,
        );
        grads.register::<Cpu>(logits_node.id, d_logits);
    }
}

/// `∂L/∂z` of [`log_probs_rows::backward`] as a tensor shaped like `logits`: written over the
/// logits' own buffer when nothing else holds it, else into a new one.
fn gradient_over(
    mut logits: FlexTensor,
    targets: &[Target],
    stats: &[RowStats],
    grad: &[f32],
    spec: Rows,
) -> FlexTensor {
    if let Some((start, end)) = logits.layout().contiguous_offsets() {
        if let Some(storage) = logits.try_storage_mut::<f32>() {
            log_probs_rows::backward_in_place(&mut storage[start..end], targets, stats, grad, spec);
            return logits;
        }
    }
    let shape = logits.shape();
    let d_logits = log_probs_rows::backward(&values_of(&logits), targets, stats, grad, spec);
    FlexTensor::from_data(TensorData::new(d_logits, shape))
}

/// One chunk's `(log p(target), H, lse)`, each `[c, 1]`, from its logits `[c, L]` (every
/// column allowed) and targets `[c]`, when `B` is the plain CPU backend (no autodiff graph to
/// record) and the logits are `f32`; `None` otherwise.
pub(crate) fn chunk_scores<B: Backend>(
    logits: &Tensor<B, 2>,
    targets: &Tensor<B, 1, Int>,
) -> Option<[Tensor<B, 2>; 3]> {
    if logits.dtype() != DType::F32 {
        return None;
    }
    let logits = cast::<_, Tensor<Cpu, 2>>(logits)?;
    let [rows, vocab] = logits.dims();
    let targets = chunk_targets(targets, vocab)?;
    let spec = Rows {
        vocab,
        limit: vocab,
        with_entropy: true,
    };
    let logits = contiguous(logits.into_primitive().tensor());
    let (scores, stats) = log_probs_rows::forward(&values_of(&logits), &targets, spec);
    let column = |values: Vec<f32>| {
        let column =
            Tensor::<Cpu, 2>::from_data(TensorData::new(values, [rows, 1]), &Default::default());
        cast::<_, Tensor<B, 2>>(&column)
    };
    Some([
        column(scores.iter().step_by(2).copied().collect())?,
        column(scores.iter().skip(1).step_by(2).copied().collect())?,
        column(stats.iter().map(RowStats::log_sum_exp).collect())?,
    ])
}

/// `∂L/∂z` (`[c, L]`) of one chunk, from its recomputed logits `[c, L]`, targets `[c]`, the
/// forward's `lse` and `H` (`[c, 1]` each) and the incoming gradient `[c, 2]` (`g_lp`, `g_H`),
/// when `B` is the plain CPU backend (the inner backend of the chunked node) and the logits are
/// `f32`: written over the logits' buffer when the caller holds no other handle on it. Gives the
/// logits back otherwise.
pub(crate) fn chunk_logits_grad<B: Backend>(
    logits: Tensor<B, 2>,
    targets: &Tensor<B, 1, Int>,
    log_sum_exp: &Tensor<B, 2>,
    entropy: &Tensor<B, 2>,
    grad: &Tensor<B, 2>,
) -> Result<Tensor<B, 2>, Tensor<B, 2>> {
    if logits.dtype() != DType::F32 {
        return Err(logits);
    }
    let Some(cpu_logits) = cast::<_, Tensor<Cpu, 2>>(&logits) else {
        return Err(logits);
    };
    let [rows, vocab] = logits.dims();
    let float_values = |t: &Tensor<B, 2>| {
        t.clone()
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .ok()
    };
    let host = (
        chunk_targets(targets, vocab),
        float_values(log_sum_exp),
        float_values(entropy),
        float_values(grad),
    );
    let (Some(targets), Some(lse), Some(entropy), Some(grad)) = host else {
        return Err(logits);
    };
    if targets.len() != rows || lse.len() != rows || entropy.len() != rows || grad.len() != 2 * rows
    {
        return Err(logits);
    }
    drop(logits); // the CPU handle alone holds the buffer now
    let stats: Vec<RowStats> = lse
        .iter()
        .zip(&entropy)
        .map(|(&shift, &entropy)| RowStats {
            shift,
            log_sum: 0.0,
            entropy,
        })
        .collect();
    let spec = Rows {
        vocab,
        limit: vocab,
        with_entropy: true,
    };
    let cpu_logits = contiguous(cpu_logits.into_primitive().tensor());
    let d_logits = gradient_over(cpu_logits, &targets, &stats, &grad, spec);
    let d_logits = Tensor::<Cpu, 2>::from_primitive(TensorPrimitive::Float(d_logits));
    // B is Cpu here (the cast above succeeded), so the cast back cannot fail.
    cast(&d_logits).ok_or_else(|| Tensor::zeros([rows, vocab], &Default::default()))
}

/// The chunked path's targets (each below `limit` by its contract; any other scores `−∞`).
fn chunk_targets<B: Backend>(targets: &Tensor<B, 1, Int>, limit: usize) -> Option<Vec<Target>> {
    let ids = int_values(targets.clone())?;
    Some(
        ids.into_iter()
            .map(|id| Target::new(id, 1, limit))
            .collect(),
    )
}
