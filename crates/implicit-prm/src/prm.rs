//! [`ImplicitPrm`]: the implicit PRM `π_φ`, its optimizer and its reference — scoring
//! (docs/algorithm.md §6) and the online update in the three update modes (§7).

use std::ops::Range;

use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, GradientsParams, Optimizer};
use burn::tensor::TensorData;
use burn::tensor::{backend::AutodiffBackend, backend::Backend, ElementConversion, Tensor};
use prime_distributed::{
    all_reduce_f64, all_reduce_gradients, Communicator, RowShard, SingleProcess,
};
use prime_models::optim_state::AdamWOf;
use prime_models::{optim, response_scores, training_scores, CausalLm, ResponseDims, ScoreTape};

use crate::loss::{ce_loss, dpo_loss, DpoTargets};
use crate::metrics::dpo_accuracy_parts;
use crate::{
    ImplicitRewards, OutcomeLabels, PrmBatch, PrmConfig, PrmError, PrmLoss, PrmOutput, PrmStats,
    UpdateMode,
};

/// The reference `π_ref` of the log-ratio `q = log π_φ − log π_ref`.
pub enum PrmReference<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// A frozen model, run without autodiff (**default**: a copy of the initial PRM).
    Frozen(M::InnerModule),
    /// The policy that sampled the batch: the caller passes `log π_θold` of the response tokens
    /// in [`PrmBatch::reference_log_probs`]; no extra model.
    Policy,
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> Clone for PrmReference<B, M> {
    fn clone(&self) -> Self {
        match self {
            PrmReference::Frozen(model) => PrmReference::Frozen(model.clone()),
            PrmReference::Policy => PrmReference::Policy,
        }
    }
}

/// An implicit process reward model (PRIME, Cui et al. 2025, §3): a causal LM `π_φ` trained on
/// outcome labels whose per-token log-ratio to a reference is a dense reward.
///
/// `M` is the PRM on the autodiff backend `B`; the reference and every scoring forward that
/// needs no gradient run on `B::InnerBackend`. Gradients reach `π_φ` only.
pub struct ImplicitPrm<B, M>
where
    B: AutodiffBackend,
    M: CausalLm<B> + AutodiffModule<B> + 'static,
    M::InnerModule: CausalLm<B::InnerBackend>,
{
    model: M,
    optimizer: AdamWOf<M, B>,
    reference: PrmReference<B, M>,
    config: PrmConfig,
}

/// What the update over all mini-batches yields.
struct TrainOutcome {
    /// Rewards from the loss forwards: mini-batch `k` scored by the PRM after `k − 1` steps.
    rewards: ImplicitRewards,
    /// Row-weighted mean loss.
    loss: f32,
    /// Mean pre-clip gradient norm.
    grad_norm: f32,
    /// Optimizer steps taken.
    steps: usize,
}

/// A mini-batch's loss (`[1]`), its log-ratios `q` (`[m, R]`) and how to back-propagate the loss.
pub(crate) type MiniBatchLoss<B> = (Tensor<B, 1>, Tensor<B, 2>, ScoreTape<B>);

impl<B, M> ImplicitPrm<B, M>
where
    B: AutodiffBackend,
    M: CausalLm<B> + AutodiffModule<B> + 'static,
    M::InnerModule: CausalLm<B::InnerBackend>,
{
    /// A PRM `model` with the given reference and a fresh AdamW state
    /// (`β₁ = 0.9, β₂ = 0.999, ε = 1e-8` as in PyTorch, weight decay from `config`).
    pub fn new(
        model: M,
        reference: PrmReference<B, M>,
        config: PrmConfig,
    ) -> Result<Self, PrmError> {
        config.validate()?;
        let optimizer = optim::adamw(config.weight_decay).init::<B, M>();
        Ok(Self {
            model,
            optimizer,
            reference,
            config,
        })
    }

    /// A PRM whose reference is a frozen copy of `model` as it is now (the default).
    pub fn with_frozen_reference(model: M, config: PrmConfig) -> Result<Self, PrmError> {
        let reference = PrmReference::Frozen(model.valid());
        Self::new(model, reference, config)
    }

    /// The configuration.
    pub fn config(&self) -> &PrmConfig {
        &self.config
    }

    /// The PRM `π_φ`.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The reference.
    pub fn reference(&self) -> &PrmReference<B, M> {
        &self.reference
    }

    /// Gives the PRM model back.
    pub fn into_model(self) -> M {
        self.model
    }

    pub(crate) fn optimizer(&self) -> &AdamWOf<M, B> {
        &self.optimizer
    }

    pub(crate) fn set_optimizer(&mut self, optimizer: AdamWOf<M, B>) {
        self.optimizer = optimizer;
    }

    /// Per-token implicit rewards of `batch` under the current PRM, without updating it
    /// (docs/algorithm.md §6). Runs without autodiff, `mini_batch_size` rows at a time.
    pub fn token_rewards(&self, batch: &PrmBatch<B>) -> Result<ImplicitRewards, PrmError> {
        let dims = batch.dims()?;
        self.score(Some(batch), dims)
    }

    /// Trains the PRM on `batch` (docs/algorithm.md §7): one AdamW step per mini-batch of
    /// `mini_batch_size` rows, loss `ce` or `dpo`, global grad-norm clip. Ignores the update mode.
    ///
    /// The stats' rewards (`dpo_acc_before`, reward mean/std) are those of the loss forwards.
    pub fn update(
        &mut self,
        batch: &PrmBatch<B>,
        labels: &OutcomeLabels,
    ) -> Result<PrmStats, PrmError> {
        let dims = batch.dims()?;
        labels.validate(dims.rows)?;
        let shard = RowShard::whole(dims.rows);
        let dp = Shard {
            comm: &SingleProcess,
            rows: &shard,
        };
        let outcome = self.train(Some(batch), labels, dims, &dp)?;
        let after = if self.config.measure_after_update {
            Some(self.dpo_acc(&self.score(Some(batch), dims)?, labels, &dp)?)
        } else {
            None
        };
        self.stats(&outcome.rewards, labels, Some(&outcome), after, &dp)
    }

    /// The PRM phase of a training step, in the configured update mode: returns the rewards to
    /// use for the advantages and the metrics.
    ///
    /// - `after`: rewards from the loss forwards (mini-batch `k` scored after `k − 1` updates);
    /// - `before`: update on the whole batch, then a fresh forward for the rewards;
    /// - `none`: a forward only (the labels serve the `dpo_acc` metric).
    pub fn step(
        &mut self,
        batch: &PrmBatch<B>,
        labels: &OutcomeLabels,
    ) -> Result<PrmOutput, PrmError> {
        let shard = RowShard::whole(batch.num_rows());
        self.step_sharded(Some(batch), labels, &shard, &SingleProcess)
    }

    /// [`ImplicitPrm::step`] of a data-parallel job: this rank holds rows `shard` of the step's
    /// global batch (`batch`, `None` when it holds none; `labels` of those rows, group ids
    /// global, a group never split between ranks). Mini-batches are cut from the global rows;
    /// each rank back-propagates its rows of one, with the loss normalised by the mini-batch's
    /// global size, and the gradients are summed over ranks before the (identical) optimizer
    /// step. Returns the rewards of this rank's rows; the stats are the whole batch's.
    pub fn step_sharded(
        &mut self,
        batch: Option<&PrmBatch<B>>,
        labels: &OutcomeLabels,
        shard: &RowShard,
        comm: &dyn Communicator,
    ) -> Result<PrmOutput, PrmError> {
        let dims = match batch {
            Some(batch) => batch.dims()?,
            None => ResponseDims {
                rows: 0,
                response_width: 0,
            },
        };
        if dims.rows != shard.len() {
            return Err(PrmError::Batch(format!(
                "rank {} holds {} rows of the global batch but its PRM batch has {}",
                comm.rank(),
                shard.len(),
                dims.rows
            )));
        }
        labels.validate(dims.rows)?;
        let dp = Shard { comm, rows: shard };
        match self.config.update {
            UpdateMode::After => {
                let outcome = self.train(batch, labels, dims, &dp)?;
                let after = if self.config.measure_after_update {
                    Some(self.dpo_acc(&self.score(batch, dims)?, labels, &dp)?)
                } else {
                    None
                };
                let stats = self.stats(&outcome.rewards, labels, Some(&outcome), after, &dp)?;
                Ok(PrmOutput {
                    rewards: outcome.rewards,
                    stats,
                })
            }
            UpdateMode::Before => {
                let outcome = self.train(batch, labels, dims, &dp)?;
                let rewards = self.score(batch, dims)?;
                let after = Some(self.dpo_acc(&rewards, labels, &dp)?);
                let mut stats = self.stats(&rewards, labels, Some(&outcome), after, &dp)?;
                stats.dpo_acc_before = self.dpo_acc(&outcome.rewards, labels, &dp)?;
                Ok(PrmOutput { rewards, stats })
            }
            UpdateMode::None => {
                let rewards = self.score(batch, dims)?;
                let stats = self.stats(&rewards, labels, None, None, &dp)?;
                Ok(PrmOutput { rewards, stats })
            }
        }
    }

    /// `dpo_acc` of the whole batch: the per-group values summed over ranks, over all groups.
    fn dpo_acc(
        &self,
        rewards: &ImplicitRewards,
        labels: &OutcomeLabels,
        dp: &Shard<'_>,
    ) -> Result<f32, PrmError> {
        let (sum, groups) =
            dpo_accuracy_parts(&rewards.sequence_rewards(), &labels.acc, &labels.group_ids);
        let mut parts = [sum, groups as f64];
        all_reduce_f64(dp.comm, &mut parts)?;
        Ok(if parts[1] == 0.0 {
            0.5
        } else {
            (parts[0] / parts[1]) as f32
        })
    }

    fn stats(
        &self,
        rewards: &ImplicitRewards,
        labels: &OutcomeLabels,
        outcome: Option<&TrainOutcome>,
        dpo_acc_after: Option<f32>,
        dp: &Shard<'_>,
    ) -> Result<PrmStats, PrmError> {
        let (reward_mean, reward_std) = global_mean_std(rewards, dp.comm)?;
        Ok(PrmStats {
            loss: outcome.map(|o| o.loss),
            grad_norm: outcome.map(|o| o.grad_norm),
            dpo_acc_before: self.dpo_acc(rewards, labels, dp)?,
            dpo_acc_after,
            reward_mean,
            reward_std,
            optimizer_steps: outcome.map_or(0, |o| o.steps),
        })
    }

    /// `[m, R]` reference log-probs of a chunk on the inner backend.
    fn reference_log_probs(
        &self,
        chunk: &PrmBatch<B::InnerBackend>,
        dims: ResponseDims,
    ) -> Result<Tensor<B::InnerBackend, 2>, PrmError> {
        match &self.reference {
            PrmReference::Frozen(model) => log_probs(model, chunk),
            PrmReference::Policy => chunk
                .reference_log_probs
                .clone()
                .map(|log_probs| log_probs.mul(chunk.responses.response_mask(dims.response_width)))
                .ok_or(PrmError::MissingPolicyLogProbs),
        }
    }

    /// Inference forward of the current PRM over the whole batch (this rank's rows), chunk by
    /// chunk.
    fn score(
        &self,
        batch: Option<&PrmBatch<B>>,
        dims: ResponseDims,
    ) -> Result<ImplicitRewards, PrmError> {
        let Some(batch) = batch else {
            return Ok(ImplicitRewards::from_log_ratios(
                Vec::new(),
                self.config.beta,
            ));
        };
        let prm = self.model.valid();
        let inner = batch.inner();
        let mut q_rows = Vec::with_capacity(dims.rows);
        for range in mini_batches(dims.rows, self.config.mini_batch_size) {
            let chunk = inner.rows(range.clone());
            let chunk_dims = ResponseDims {
                rows: range.len(),
                response_width: dims.response_width,
            };
            let q = log_probs(&prm, &chunk)?.sub(self.reference_log_probs(&chunk, chunk_dims)?);
            q_rows.extend(ragged_rows(q, &chunk.responses.response_lengths)?);
        }
        Ok(ImplicitRewards::from_log_ratios(q_rows, self.config.beta))
    }

    /// The training loss of one mini-batch under `model` (`[1]`, differentiable w.r.t. `model`
    /// only) and its log-ratios `q` (`[m, R]`, 0 after `L_i`).
    ///
    /// `acc` holds the chunk's labels; `dpo` its detached `(other, sign)` for loss `dpo`.
    pub(crate) fn mini_batch_loss(
        &self,
        model: &M,
        chunk: &PrmBatch<B>,
        dims: ResponseDims,
        acc: &[f32],
        dpo: Option<(&[f32], &[f32])>,
    ) -> Result<MiniBatchLoss<B>, PrmError> {
        let device = chunk.responses.tokens.input_ids.device();
        let beta = self.config.beta;
        let (scores, tape) =
            training_scores(model, &chunk.responses, false, self.config.recompute_layers)?;
        let log_probs = scores.log_probs;
        let reference = match &self.reference {
            // A frozen reference runs through the same ops as the PRM's forward above: on the
            // autodiff backend (untracked, so no graph) unless the PRM's layers ran on the inner
            // one (`recompute_layers`). Attention is computed by different kernels under
            // autodiff and in inference, so only then does a PRM equal to its reference give
            // log-ratios of exactly 0 (docs/algorithm.md §17).
            PrmReference::Frozen(model) if !self.config.recompute_layers => {
                self::log_probs(&M::from_inner(model.clone()).no_grad(), chunk)?.inner()
            }
            _ => self.reference_log_probs(&chunk.inner(), dims)?,
        };
        let q = log_probs.sub(Tensor::from_inner(reference)); // [m, R]
        let sequence_q = q.clone().sum_dim(1).squeeze_dim::<1>(1); // [m]
        let loss = match dpo {
            None => ce_loss(sequence_q, vector(acc, &device), beta),
            Some((other, sign)) => dpo_loss(
                sequence_q,
                vector(other, &device),
                vector(sign, &device),
                beta,
            ),
        };
        Ok((loss, q, tape))
    }

    /// One optimizer step per mini-batch of the global batch; returns the rewards of the loss
    /// forwards of this rank's rows.
    fn train(
        &mut self,
        batch: Option<&PrmBatch<B>>,
        labels: &OutcomeLabels,
        dims: ResponseDims,
        dp: &Shard<'_>,
    ) -> Result<TrainOutcome, PrmError> {
        let beta = self.config.beta;
        let dpo_targets = match self.config.loss {
            PrmLoss::Ce => None,
            // Detached, pre-update sequence log-ratios of every group member (as the
            // reference computes them before the update).
            PrmLoss::Dpo => {
                let before = self.score(batch, dims)?;
                let sequence_q: Vec<f32> = before.q.iter().map(|row| row.iter().sum()).collect();
                Some(DpoTargets::new(
                    &sequence_q,
                    &labels.acc,
                    &labels.group_ids,
                    beta,
                ))
            }
        };
        let mut q_rows = Vec::with_capacity(dims.rows);
        let (mut loss_sum, mut norm_sum, mut steps) = (0.0f64, 0.0f64, 0usize);
        let global_rows = dp.rows.global_rows();
        for (index, global) in mini_batches(global_rows, self.config.mini_batch_size).enumerate() {
            let range = dp.rows.local_range(global.clone());
            let (local_loss, grads) = match batch.filter(|_| !range.is_empty()) {
                None => (0.0, GradientsParams::new()),
                Some(batch) => {
                    // Micro-batches of this rank's rows, their gradients summed: the loss is a
                    // mean over the mini-batch's rows, so each micro-batch's (and each rank's)
                    // is weighted by its share of them.
                    let micro_size = match self.config.micro_batch_size {
                        0 => range.len(),
                        size => size,
                    };
                    let mut value = 0.0;
                    let mut accumulator = GradientsAccumulator::new();
                    for micro in mini_batches(range.len(), micro_size) {
                        let micro = range.start + micro.start..range.start + micro.end;
                        let chunk = batch.rows(micro.clone());
                        let chunk_dims = ResponseDims {
                            rows: micro.len(),
                            response_width: dims.response_width,
                        };
                        let (loss, q, tape) = self.mini_batch_loss(
                            &self.model,
                            &chunk,
                            chunk_dims,
                            &labels.acc[micro.clone()],
                            dpo_targets.as_ref().map(|t| t.rows(micro.clone())),
                        )?;
                        q_rows.extend(ragged_rows(
                            q.detach().inner(),
                            &chunk.responses.response_lengths,
                        )?);
                        let loss = loss.mul_scalar(micro.len() as f64 / global.len() as f64);
                        value += f64::from(loss.clone().inner().into_scalar().elem::<f32>());
                        accumulator.accumulate(&self.model, tape.backward(loss, &self.model));
                    }
                    (value, accumulator.grads())
                }
            };
            let mut mini_batch_loss = [local_loss];
            all_reduce_f64(dp.comm, &mut mini_batch_loss)?;
            let loss_value = mini_batch_loss[0] as f32;
            if !loss_value.is_finite() {
                return Err(PrmError::NonFinite {
                    what: "loss",
                    mini_batch: index,
                });
            }
            let grads = all_reduce_gradients(dp.comm, &self.model, grads)?;
            let (grads, norm) = if self.config.grad_clip > 0.0 {
                optim::clip_grad_norm(&self.model, grads, f64::from(self.config.grad_clip))
            } else {
                optim::clip_grad_norm(&self.model, grads, f64::INFINITY)
            };
            if !norm.is_finite() {
                return Err(PrmError::NonFinite {
                    what: "grad norm",
                    mini_batch: index,
                });
            }
            self.model = self
                .optimizer
                .step(self.config.lr, self.model.clone(), grads);
            loss_sum += f64::from(loss_value) * global.len() as f64;
            norm_sum += norm;
            steps += 1;
        }
        Ok(TrainOutcome {
            rewards: ImplicitRewards::from_log_ratios(q_rows, beta),
            loss: (loss_sum / global_rows.max(1) as f64) as f32,
            grad_norm: (norm_sum / steps.max(1) as f64) as f32,
            steps,
        })
    }
}

/// The ranks of a data-parallel job and the rows of the global batch this one holds.
struct Shard<'a> {
    comm: &'a dyn Communicator,
    rows: &'a RowShard,
}

/// Mean and population standard deviation of the token rewards of every rank (two passes, as
/// [`ImplicitRewards::token_reward_mean_std`] in one process).
fn global_mean_std(
    rewards: &ImplicitRewards,
    comm: &dyn Communicator,
) -> Result<(f32, f32), PrmError> {
    let values = || {
        rewards
            .token_rewards
            .iter()
            .flatten()
            .map(|&v| f64::from(v))
    };
    let mut sums = [values().sum::<f64>(), values().count() as f64];
    all_reduce_f64(comm, &mut sums)?;
    if sums[1] == 0.0 {
        return Ok((0.0, 0.0));
    }
    let mean = sums[0] / sums[1];
    let mut squares = [values().map(|v| (v - mean).powi(2)).sum::<f64>()];
    all_reduce_f64(comm, &mut squares)?;
    Ok((mean as f32, (squares[0] / sums[1]).sqrt() as f32))
}

/// `[n, R]` response log-probs of `batch` under `model`, 0 after `L_i`.
fn log_probs<B: Backend, M: CausalLm<B>>(
    model: &M,
    batch: &PrmBatch<B>,
) -> Result<Tensor<B, 2>, PrmError> {
    Ok(response_scores(model, &batch.responses, false)?.log_probs)
}

/// Row ranges of at most `size` rows covering `0..rows`.
fn mini_batches(rows: usize, size: usize) -> impl Iterator<Item = Range<usize>> {
    (0..rows)
        .step_by(size.max(1))
        .map(move |start| start..(start + size).min(rows))
}

/// A `[n]` float tensor from host values.
fn vector<B: Backend>(values: &[f32], device: &B::Device) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

/// Reads a `[n, R]` tensor back and keeps the first `lengths[i]` values of each row.
fn ragged_rows<B: Backend>(
    values: Tensor<B, 2>,
    lengths: &[usize],
) -> Result<Vec<Vec<f32>>, PrmError> {
    let width = values.dims()[1];
    let flat = values
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| PrmError::TensorData {
            tensor: "q",
            reason: format!("{e:?}"),
        })?;
    Ok(lengths
        .iter()
        .enumerate()
        .map(|(row, &len)| flat[row * width..row * width + len].to_vec())
        .collect())
}

#[cfg(test)]
mod tests;
