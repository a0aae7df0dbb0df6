//! The policy side of a step: log-probs of the batch under a model without autodiff (old policy,
//! KL reference), and the PPO update over mini-batches with gradient accumulation, global
//! grad-norm clipping and AdamW (docs/algorithm.md §5, §10).

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, Optimizer};
use burn::tensor::{backend::AutodiffBackend, backend::Backend, Tensor};
use prime_data::SplitMix64;
use prime_distributed::{
    all_reduce_f64, all_reduce_gradients, Communicator, RowShard, SingleProcess,
};
use prime_models::{
    optim::clip_grad_norm, response_scores, training_scores, CausalLm, ResponseBatch,
};

use crate::error::TrainError;
use crate::policy_loss::{policy_loss, PolicyLossConfig, PolicyLossInputs};
use crate::ragged::{pad_rows, tensor2, to_ragged};
use crate::seeds::derive_seed;
use prime_models::optim_state::AdamWOf;

/// One response prepared for the policy update.
#[derive(Debug, Clone)]
pub struct TrainRow {
    /// Its row in the step's batch over all data-parallel ranks (its index in one process).
    pub global: usize,
    /// Prompt token ids.
    pub prompt: Vec<u32>,
    /// Response token ids (`L_i` of them).
    pub response: Vec<u32>,
    /// `log π_θold` per response token.
    pub old_log_probs: Vec<f32>,
    /// `log π_ref` per response token (KL to a frozen reference).
    pub ref_log_probs: Option<Vec<f32>>,
    /// Advantage per response token.
    pub advantages: Vec<f32>,
}

/// `log π(y_t)` of every response under `model` (no autodiff), `rows_per_forward` at a time;
/// ragged, row `i` has `responses[i].len()` entries. With `vocab_limit`, `π` is the model's
/// distribution over the ids below it, the one the sampler drew from
/// ([`ResponseBatch::vocab_limit`]). `logprob_chunk`: see [`ResponseBatch::logprob_chunk`].
#[allow(clippy::too_many_arguments)]
pub fn log_probs_of<B: Backend, M: CausalLm<B>>(
    model: &M,
    prompts: &[&[u32]],
    responses: &[&[u32]],
    rows_per_forward: usize,
    pad_id: u32,
    vocab_limit: Option<usize>,
    logprob_chunk: usize,
    device: &B::Device,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let mut out = Vec::with_capacity(prompts.len());
    let step = rows_per_forward.max(1);
    for start in (0..prompts.len()).step_by(step) {
        let end = (start + step).min(prompts.len());
        let batch = ResponseBatch::<B>::from_ids(
            &prompts[start..end],
            &responses[start..end],
            pad_id,
            device,
        )
        .map_err(model_err)?
        .with_vocab_limit(vocab_limit)
        .with_logprob_chunk(logprob_chunk);
        let scores = response_scores(model, &batch, false).map_err(model_err)?;
        out.extend(to_ragged(scores.log_probs, &batch.response_lengths));
    }
    Ok(out)
}

/// What the PPO update measured.
#[derive(Debug, Clone, Default)]
pub struct PpoStats {
    /// Mean over mini-batches of the clipped surrogate.
    pub policy_loss: f64,
    /// Share of valid tokens where the clipped term was chosen.
    pub clip_frac: f64,
    /// Mean `log π_θold − log π_θ` over valid tokens.
    pub approx_kl: f64,
    /// Mean entropy over valid tokens.
    pub entropy: f64,
    /// Mean reference-KL estimate over valid tokens.
    pub ref_kl: f64,
    /// Mean pre-clip global grad norm over applied optimizer steps.
    pub grad_norm: f64,
    /// Optimizer steps applied.
    pub optimizer_steps: usize,
    /// Mini-batches skipped for a non-finite loss or gradient norm.
    pub skipped_minibatches: usize,
    /// Tokens (prompt + response) through forward and backward.
    pub tokens: usize,
    /// Seconds.
    pub seconds: f64,
}

/// PPO settings of one update.
#[derive(Debug, Clone)]
pub struct PpoSettings {
    /// The loss.
    pub loss: PolicyLossConfig,
    /// Passes over the rows.
    pub epochs: usize,
    /// Rows per optimizer step.
    pub mini_batch_size: usize,
    /// Rows per forward/backward.
    pub micro_batch_size: usize,
    /// Learning rate of this step.
    pub lr: f64,
    /// Global grad-norm clip (0 = off).
    pub grad_clip: f64,
    /// Padding id.
    pub pad_id: u32,
    /// Score over the ids below this limit, as the old log-probs were ([`log_probs_of`]).
    pub vocab_limit: Option<usize>,
    /// Score `logprob_chunk` tokens at a time, without whole-vocabulary logits
    /// (`ResponseBatch::logprob_chunk`, `[memory] logprob_chunk`; 0: unchunked).
    pub logprob_chunk: usize,
    /// Recompute each decoder layer in the backward (`[memory] checkpoint_activations`).
    pub recompute_layers: bool,
    /// Seed of the row order.
    pub seed: u64,
}

/// This rank's part of a data-parallel PPO update: which rows of the global batch it holds, the
/// response length of every global row (for token-mean normalisers), and the other ranks.
pub struct PpoShard<'a> {
    /// The ranks.
    pub comm: &'a dyn Communicator,
    /// The global rows this rank's `rows` are (ascending).
    pub rows: &'a RowShard,
    /// `L_i` of every global row, `[global rows]`.
    pub lengths: &'a [usize],
}

/// One PPO update of `model` on `rows` (1 epoch by default): rows are shuffled (seeded), cut into
/// mini-batches; each mini-batch accumulates the gradients of its micro-batches (the loss of each
/// is normalised by the whole mini-batch, so the sum is the mini-batch's gradient), clips the
/// global norm and takes one AdamW step. A mini-batch with a non-finite loss or norm is skipped.
pub fn ppo_update<B: AutodiffBackend, M: CausalLm<B> + AutodiffModule<B> + 'static>(
    model: M,
    optimizer: &mut AdamWOf<M, B>,
    rows: &[TrainRow],
    settings: &PpoSettings,
    device: &B::Device,
) -> Result<(M, PpoStats), TrainError> {
    let lengths: Vec<usize> = rows.iter().map(|r| r.response.len()).collect();
    let whole = RowShard::whole(rows.len());
    let shard = PpoShard {
        comm: &SingleProcess,
        rows: &whole,
        lengths: &lengths,
    };
    ppo_update_sharded(model, optimizer, rows, settings, &shard, device)
}

/// [`ppo_update`] of a data-parallel job: `rows` are this rank's rows (`shard.rows`) of the
/// global batch. The row order and the mini-batches are the global batch's (the same seed on
/// every rank); each rank back-propagates its rows of a mini-batch with the mini-batch's global
/// normaliser, the gradients are summed over ranks, and every rank takes the same clipped AdamW
/// step. A mini-batch non-finite on any rank is skipped on all. The stats are the whole batch's.
pub fn ppo_update_sharded<B: AutodiffBackend, M: CausalLm<B> + AutodiffModule<B> + 'static>(
    model: M,
    optimizer: &mut AdamWOf<M, B>,
    rows: &[TrainRow],
    settings: &PpoSettings,
    shard: &PpoShard<'_>,
    device: &B::Device,
) -> Result<(M, PpoStats), TrainError> {
    if rows.len() != shard.rows.len() || shard.lengths.len() != shard.rows.global_rows() {
        return Err(TrainError::Config(format!(
            "rank {}: {} rows for a shard of {}, {} lengths for a batch of {}",
            shard.comm.rank(),
            rows.len(),
            shard.rows.len(),
            shard.lengths.len(),
            shard.rows.global_rows()
        )));
    }
    let started = Instant::now();
    let mut model = model;
    let mut stats = PpoStats::default();
    let (mut loss_sum, mut minibatches) = (0.0, 0usize);
    let (mut clipped, mut kl, mut ent, mut ref_kl, mut valid) = (0.0, 0.0, 0.0, 0.0, 0usize);
    let mut norm_sum = 0.0;
    let need_entropy = true;
    let need_ref = settings.loss.kl_coef != 0.0;
    for epoch in 0..settings.epochs {
        let mut order: Vec<usize> = (0..shard.rows.global_rows()).collect();
        SplitMix64::new(derive_seed(settings.seed, &[epoch as u64])).shuffle(&mut order);
        for global in order.chunks(settings.mini_batch_size.max(1)) {
            let tokens: usize = global.iter().map(|&g| shard.lengths[g]).sum();
            let normalizer = settings.loss.aggregation.normalizer(global.len(), tokens);
            // This rank's rows of the mini-batch, in the mini-batch's order.
            let mini: Vec<usize> = global.iter().filter_map(|&g| shard.rows.local(g)).collect();
            let mut accumulator = GradientsAccumulator::<M>::new();
            let mut finite = true;
            let mut mini_loss = 0.0;
            for micro in mini.chunks(settings.micro_batch_size.max(1)) {
                let prompts: Vec<&[u32]> =
                    micro.iter().map(|&i| rows[i].prompt.as_slice()).collect();
                let responses: Vec<&[u32]> =
                    micro.iter().map(|&i| rows[i].response.as_slice()).collect();
                let batch =
                    ResponseBatch::<B>::from_ids(&prompts, &responses, settings.pad_id, device)
                        .map_err(model_err)?
                        .with_vocab_limit(settings.vocab_limit)
                        .with_logprob_chunk(settings.logprob_chunk);
                stats.tokens += batch.tokens.input_ids.dims()[1] * micro.len();
                let width = batch.tokens.input_ids.dims()[1] - batch.response_start;
                let n = micro.len();
                let gather = |f: &dyn Fn(&TrainRow) -> &[f32]| -> Tensor<B, 2> {
                    let ragged: Vec<Vec<f32>> =
                        micro.iter().map(|&i| f(&rows[i]).to_vec()).collect();
                    tensor2(pad_rows(&ragged, width), n, width, device)
                };
                let (scores, tape) =
                    training_scores(&model, &batch, need_entropy, settings.recompute_layers)
                        .map_err(model_err)?;
                let ref_log_probs = if need_ref {
                    let ragged: Option<Vec<Vec<f32>>> = micro
                        .iter()
                        .map(|&i| rows[i].ref_log_probs.clone())
                        .collect();
                    let ragged = ragged.ok_or_else(|| {
                        TrainError::Config("kl_coef ≠ 0 but no reference log-probs".into())
                    })?;
                    Some(tensor2(pad_rows(&ragged, width), n, width, device))
                } else {
                    None
                };
                let entropy = scores.entropy.map(|h| {
                    if settings.loss.entropy_coef == 0.0 {
                        h.detach()
                    } else {
                        h
                    }
                });
                let out = policy_loss(
                    &settings.loss,
                    PolicyLossInputs {
                        log_probs: scores.log_probs,
                        old_log_probs: gather(&|r| &r.old_log_probs),
                        advantages: gather(&|r| &r.advantages),
                        mask: scores.mask,
                        entropy,
                        ref_log_probs,
                    },
                    normalizer,
                )?;
                let sums: Vec<f32> = Tensor::cat(
                    vec![
                        out.pg_loss.clone(),
                        out.clipped_tokens,
                        out.approx_kl_sum,
                        out.entropy_sum,
                        out.ref_kl_sum,
                    ],
                    0,
                )
                .into_data()
                .convert::<f32>()
                .into_vec::<f32>()
                .map_err(|e| TrainError::Model(format!("{e:?}")))?;
                if sums.iter().any(|v| !v.is_finite()) {
                    finite = false;
                    break;
                }
                mini_loss += sums[0] as f64;
                clipped += sums[1] as f64;
                kl += sums[2] as f64;
                ent += sums[3] as f64;
                ref_kl += sums[4] as f64;
                valid += responses.iter().map(|r| r.len()).sum::<usize>();
                let grads = tape.backward(out.loss, &model);
                accumulator.accumulate(&model, grads);
            }
            minibatches += 1;
            let mut non_finite = [f64::from(u8::from(!finite))];
            all_reduce_f64(shard.comm, &mut non_finite)?;
            if non_finite[0] > 0.0 {
                stats.skipped_minibatches += 1;
                continue;
            }
            loss_sum += mini_loss;
            let grads = all_reduce_gradients(shard.comm, &model, accumulator.grads())?;
            let (grads, norm) = if settings.grad_clip > 0.0 {
                clip_grad_norm(&model, grads, settings.grad_clip)
            } else {
                (grads, 0.0)
            };
            if !norm.is_finite() {
                stats.skipped_minibatches += 1;
                continue;
            }
            norm_sum += norm;
            model = optimizer.step(settings.lr, model, grads);
            stats.optimizer_steps += 1;
        }
    }
    let mut sums = [
        loss_sum,
        clipped,
        kl,
        ent,
        ref_kl,
        valid as f64,
        stats.tokens as f64,
    ];
    all_reduce_f64(shard.comm, &mut sums)?;
    let [loss_sum, clipped, kl, ent, ref_kl, valid, tokens] = sums;
    stats.tokens = tokens as usize;
    let applied = minibatches.saturating_sub(stats.skipped_minibatches).max(1) as f64;
    let valid = valid.max(1.0);
    stats.policy_loss = loss_sum / applied;
    stats.clip_frac = clipped / valid;
    stats.approx_kl = kl / valid;
    stats.entropy = ent / valid;
    stats.ref_kl = ref_kl / valid;
    stats.grad_norm = norm_sum / stats.optimizer_steps.max(1) as f64;
    stats.seconds = started.elapsed().as_secs_f64();
    Ok((model, stats))
}

fn model_err(e: prime_models::ModelError) -> TrainError {
    TrainError::Model(e.to_string())
}
