//! The policy side of a step: log-probs of the batch under a model without autodiff (old policy,
//! KL reference), and the PPO update over mini-batches with gradient accumulation, global
//! grad-norm clipping and AdamW (docs/algorithm.md §5, §10).

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, GradientsParams, Optimizer};
use burn::tensor::{backend::AutodiffBackend, backend::Backend, Tensor};
use prime_data::SplitMix64;
use prime_models::{optim::clip_grad_norm, response_scores, CausalLm, ResponseBatch};

use crate::error::TrainError;
use crate::policy_loss::{policy_loss, PolicyLossConfig, PolicyLossInputs};
use crate::ragged::{pad_rows, tensor2, to_ragged};
use crate::seeds::derive_seed;
use prime_models::optim_state::AdamWOf;

/// One response prepared for the policy update.
#[derive(Debug, Clone)]
pub struct TrainRow {
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
/// ([`ResponseBatch::vocab_limit`]).
pub fn log_probs_of<B: Backend, M: CausalLm<B>>(
    model: &M,
    prompts: &[&[u32]],
    responses: &[&[u32]],
    rows_per_forward: usize,
    pad_id: u32,
    vocab_limit: Option<usize>,
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
        .with_vocab_limit(vocab_limit);
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
    /// Seed of the row order.
    pub seed: u64,
}

/// One PPO update of `model` on `rows` (1 epoch by default): rows are shuffled (seeded), cut into
/// mini-batches; each mini-batch accumulates the gradients of its micro-batches (the loss of each
/// is normalised by the whole mini-batch, so the sum is the mini-batch's gradient), clips the
/// global norm and takes one AdamW step. A mini-batch with a non-finite loss or norm is skipped.
pub fn ppo_update<B: AutodiffBackend, M: CausalLm<B> + AutodiffModule<B>>(
    model: M,
    optimizer: &mut AdamWOf<M, B>,
    rows: &[TrainRow],
    settings: &PpoSettings,
    device: &B::Device,
) -> Result<(M, PpoStats), TrainError> {
    let started = Instant::now();
    let mut model = model;
    let mut stats = PpoStats::default();
    let (mut loss_sum, mut minibatches) = (0.0, 0usize);
    let (mut clipped, mut kl, mut ent, mut ref_kl, mut valid) = (0.0, 0.0, 0.0, 0.0, 0usize);
    let mut norm_sum = 0.0;
    let need_entropy = true;
    let need_ref = settings.loss.kl_coef != 0.0;
    for epoch in 0..settings.epochs {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        SplitMix64::new(derive_seed(settings.seed, &[epoch as u64])).shuffle(&mut order);
        for mini in order.chunks(settings.mini_batch_size.max(1)) {
            let tokens: usize = mini.iter().map(|&i| rows[i].response.len()).sum();
            let normalizer = settings.loss.aggregation.normalizer(mini.len(), tokens);
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
                        .with_vocab_limit(settings.vocab_limit);
                stats.tokens += batch.tokens.input_ids.dims()[1] * micro.len();
                let width = batch.tokens.input_ids.dims()[1] - batch.response_start;
                let n = micro.len();
                let gather = |f: &dyn Fn(&TrainRow) -> &[f32]| -> Tensor<B, 2> {
                    let ragged: Vec<Vec<f32>> =
                        micro.iter().map(|&i| f(&rows[i]).to_vec()).collect();
                    tensor2(pad_rows(&ragged, width), n, width, device)
                };
                let scores = response_scores(&model, &batch, need_entropy).map_err(model_err)?;
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
                let grads = GradientsParams::from_grads(out.loss.backward(), &model);
                accumulator.accumulate(&model, grads);
            }
            minibatches += 1;
            if !finite {
                stats.skipped_minibatches += 1;
                continue;
            }
            loss_sum += mini_loss;
            let grads = accumulator.grads();
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
    let applied = minibatches.saturating_sub(stats.skipped_minibatches).max(1) as f64;
    let valid = valid.max(1) as f64;
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
