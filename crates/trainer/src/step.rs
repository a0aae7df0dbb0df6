//! One PRIME step (docs/algorithm.md §1–10), phase by phase, each a method with a typed result:
//!
//! 1. [`Trainer::rollout`]: sample K per prompt, verify, accuracy filter with refill and buffer;
//! 2. [`Trainer::old_log_probs`]: `log π_θold` (and the KL reference's) of every response;
//! 3. [`Trainer::implicit_rewards`]: implicit PRM rewards and its update;
//! 4. [`Trainer::advantages`]: per-token advantages through the configured estimator;
//! 5. [`Trainer::policy_update`]: the PPO-clip update.
//!
//! [`Trainer::step`] runs them in order and fills the step's metrics. A step with no surviving
//! group, or with non-finite rewards or advantages, changes no weights and is reported as skipped.

use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use prime_advantages::RolloutBatch;
use prime_data::prompts::PromptDataset;
use prime_implicit_prm::{OutcomeLabels, PrmBatch, PrmOutput};
use prime_models::{ResponseBatch, SamplingConfig, TrainableLm};

use crate::config::ReferenceMode;
use crate::distributed::{
    agree, gather_rows, kept_groups, reduce_tally, sample_round, shard_of, BatchRow, GlobalRow,
};
use crate::error::TrainError;
use crate::filter::{Collector, FilterStats};
use crate::metrics::{SampleRecord, StepMetrics};
use crate::ppo_update::{
    log_probs_of, ppo_update_sharded, PpoSettings, PpoShard, PpoStats, TrainRow,
};
use crate::ragged::padded_tensor;
use crate::rollout::{RolloutTally, Sampler};
use crate::seeds::{seed_for, PPO_ORDER, ROLLOUT};
use crate::setup::Vocabulary;
use crate::trainer::Trainer;

/// One response of the step's batch, flattened out of its group.
pub struct Row {
    /// Dataset index of its prompt.
    prompt: usize,
    /// Its group (prompt) within the step.
    group: usize,
    /// Its row in the step's batch over all ranks.
    global: usize,
    response: Vec<u32>,
    score: f64,
    /// The sampler's log-prob of each response token (checked against the old log-probs when
    /// a vLLM server sampled).
    sampler_log_probs: Vec<f32>,
}

impl Row {
    /// The response's token ids.
    pub fn response(&self) -> &[u32] {
        &self.response
    }
}

/// Phase 1's result: the kept responses and what sampling and filtering counted.
pub struct Rollouts {
    rows: Vec<Row>,
    filter: FilterStats,
    tally: RolloutTally,
    /// Every kept response of the step (all ranks'), for the metrics.
    batch: Vec<BatchRow>,
    /// Kept groups left out of training for a response that could not be decoded.
    groups_undecodable: usize,
    /// Seconds syncing the policy into the vLLM servers first.
    weight_sync_seconds: Option<f64>,
}

impl Rollouts {
    /// The kept responses, group after group.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The filter's counts.
    pub fn filter_stats(&self) -> &FilterStats {
        &self.filter
    }

    /// Seconds syncing the policy into the vLLM servers before sampling (`None` with the
    /// in-process sampler).
    pub fn weight_sync_seconds(&self) -> Option<f64> {
        self.weight_sync_seconds
    }
}

/// Phase 2's result: ragged `log π` per response token.
#[derive(Debug, Clone)]
pub struct OldLogProbs {
    /// Under the policy that sampled (`π_θold`).
    policy: Vec<Vec<f32>>,
    /// Under the frozen initial policy (only with a KL term).
    kl_reference: Option<Vec<Vec<f32>>>,
}

impl<B: AutodiffBackend, M: TrainableLm<B>> Trainer<B, M> {
    /// Runs RL step `step` (1-based) and returns its metrics.
    pub(crate) fn step(&mut self, step: usize) -> Result<StepMetrics, TrainError> {
        crate::peak_memory::reset_peak();
        let started = Instant::now();
        let lr = self.tools.schedule.lr(step - 1);
        let mut m = StepMetrics {
            step,
            lr,
            ..Default::default()
        };

        let rollouts = self.rollout(step)?;
        record_rollout(&mut m, &rollouts);
        m.buffer_size = self.prompts.buffer().len();
        let rows = rollouts.rows;
        if rollouts.batch.is_empty() {
            return Ok(self.skip(m, "no group survived the filter", started));
        }

        let phase = Instant::now();
        let old = self.old_log_probs(&rows)?;
        m.time_old_log_probs = phase.elapsed().as_secs_f64();
        if self.vllm.is_some() {
            let server = rows.iter().map(|r| r.sampler_log_probs.as_slice());
            if let Some((mean, max)) = crate::vllm::logprob_gap(server, &old.policy) {
                m.vllm_logprob_abs_diff_mean = Some(mean);
                m.vllm_logprob_abs_diff_max = Some(max);
            }
        }

        let phase = Instant::now();
        let prm_out = self.implicit_rewards(&rows, &old)?;
        m.time_prm = phase.elapsed().as_secs_f64();
        if let Some(out) = &prm_out {
            m.prm_loss = out.stats.loss.map(f64::from).unwrap_or(f64::NAN);
            m.dpo_acc = out.stats.dpo_acc_before as f64;
            m.dpo_acc_after = out.stats.dpo_acc_after.map(f64::from);
            m.prm_grad_norm = out.stats.grad_norm.map(f64::from).unwrap_or(0.0);
            m.process_reward_mean = out.stats.reward_mean as f64;
            let finite = out
                .rewards
                .token_rewards
                .iter()
                .flatten()
                .all(|v| v.is_finite());
            let bad = !finite || !m.prm_loss.is_finite() && out.stats.loss.is_some();
            if agree(self.comm.as_ref(), bad)? {
                return Ok(self.skip(m, "non-finite implicit rewards or PRM loss", started));
            }
        }

        let phase = Instant::now();
        let train_rows = self.advantages(&rows, old, prm_out.as_ref())?;
        m.time_advantage = phase.elapsed().as_secs_f64();
        let advantages = || train_rows.iter().flat_map(|r| &r.advantages);
        let mut sums = [
            advantages().map(|a| a.abs() as f64).sum::<f64>(),
            advantages().count() as f64,
            advantages().filter(|a| !a.is_finite()).count() as f64,
        ];
        prime_distributed::all_reduce_f64(self.comm.as_ref(), &mut sums)?;
        if sums[2] > 0.0 {
            return Ok(self.skip(m, "non-finite advantages", started));
        }
        m.advantage_abs_mean = sums[0] / sums[1].max(1.0);
        self.maybe_record_samples(step, &rows, prm_out.as_ref())?;

        let stats = self.policy_update(step, lr, &train_rows)?;
        record_policy_update(&mut m, &stats);
        if stats.skipped_minibatches > 0 {
            m.skipped = true;
            self.state.skipped_total += 1;
            tracing::warn!(
                step,
                skipped = stats.skipped_minibatches,
                "non-finite policy loss or gradient: mini-batches skipped"
            );
        }
        m.skipped_total = self.state.skipped_total;
        m.time_step = started.elapsed().as_secs_f64();
        Ok(m)
    }

    /// Phase 1 (§1–4): samples K responses per prompt with the current policy, verifies them,
    /// and refills until `rollout.batch_size` groups survive the filter (or the refills run
    /// out); surplus survivors go back to the prompt buffer.
    pub fn rollout(&mut self, step: usize) -> Result<Rollouts, TrainError> {
        let weight_sync_seconds = self.sync_rollout_engine()?;
        let cfg = &self.config;
        let inference = self.models.policy.valid();
        let sampler = Sampler {
            tokenizer: &self.vocabulary.tokenizer,
            sampling: SamplingConfig {
                max_new_tokens: cfg.rollout.max_response_len,
                temperature: cfg.rollout.temperature as f32,
                top_k: cfg.rollout.top_k,
                top_p: cfg.rollout.top_p as f32,
                greedy: false,
                stop_token_ids: self.vocabulary.stop_ids.clone(),
                pad_token_id: self.vocabulary.pad_id,
                vocab_limit: self.vocabulary.vocab_limit(),
            },
            samples_per_prompt: cfg.rollout.n_samples,
            prompts_per_call: cfg.rollout.micro_batch_size,
            runner: &self.tools.runner,
        };
        let collector = Collector::new(cfg.rollout.batch_size, &cfg.filter);
        let mut tally = RolloutTally::default();
        let mut round = 0u64;
        let dataset = self.prompts.shared_dataset();
        let comm = self.comm.clone();
        let (groups, filter) =
            collector.collect(&mut self.prompts, |round_prompts: Vec<usize>| {
                round += 1;
                // This rank samples its block of the round's prompts; every rank gets every group.
                sample_round(comm.as_ref(), &round_prompts, |prompts| {
                    let seed = seed_for(cfg.seed, ROLLOUT, &[step as u64, round]);
                    match &self.vllm {
                        None => sampler.sample(
                            &inference,
                            &dataset,
                            prompts,
                            seed,
                            &self.device,
                            &mut tally,
                        ),
                        Some(engine) => {
                            sampler.sample_with(&dataset, prompts, &mut tally, |chunks| {
                                engine.generate(
                                    &dataset,
                                    chunks,
                                    sampler.samples_per_prompt,
                                    &sampler.sampling,
                                    seed,
                                )
                            })
                        }
                    }
                })
            })?;
        let kept = kept_groups(groups);
        let groups_undecodable = kept.undecodable;
        if groups_undecodable > 0 {
            tracing::warn!(
                step,
                groups = groups_undecodable,
                "groups with an undecodable response left out of training"
            );
        }
        let rows = kept
            .local
            .iter()
            .flat_map(|(g, first, group)| {
                group.responses.iter().enumerate().map(move |(j, r)| Row {
                    prompt: group.prompt,
                    group: *g,
                    global: first + j,
                    response: r.ids.clone(),
                    score: r.score,
                    sampler_log_probs: r.log_probs.clone(),
                })
            })
            .collect();
        reduce_tally(comm.as_ref(), &mut tally)?;
        Ok(Rollouts {
            rows,
            filter,
            tally,
            batch: kept.rows,
            groups_undecodable,
            weight_sync_seconds,
        })
    }

    /// Phase 2 (§5): `log π_θold` of every response token with the weights that sampled (and
    /// the KL reference's, when there is a KL term).
    pub fn old_log_probs(&self, rows: &[Row]) -> Result<OldLogProbs, TrainError> {
        let (prompts, responses) = self.token_rows(rows);
        let micro = self.config.ppo.micro_batch_size;
        let (pad, limit) = (self.vocabulary.pad_id, self.vocabulary.vocab_limit());
        let score = |model: &M::InnerModule| {
            let chunk = self.config.memory.logprob_chunk;
            log_probs_of(
                model,
                &prompts,
                &responses,
                micro,
                pad,
                limit,
                chunk,
                &self.device,
            )
        };
        let policy = score(&self.models.policy.valid())?;
        let kl_reference = self.models.kl_reference.as_ref().map(score).transpose()?;
        Ok(OldLogProbs {
            policy,
            kl_reference,
        })
    }

    /// Phase 3 (§6–7): the implicit PRM's per-token rewards of the batch and its online update
    /// on the outcome labels, in the configured order (`None` without a PRM).
    pub fn implicit_rewards(
        &mut self,
        rows: &[Row],
        old: &OldLogProbs,
    ) -> Result<Option<PrmOutput>, TrainError> {
        let Some(prm) = self.models.prm.as_mut() else {
            return Ok(None);
        };
        let policy_reference = self.config.reference.mode == ReferenceMode::Policy;
        let shard = shard_of(self.comm.as_ref(), rows.iter().map(|r| r.global).collect())?;
        let (batch, labels) = if rows.is_empty() {
            let none = OutcomeLabels {
                acc: Vec::new(),
                group_ids: Vec::new(),
            };
            (None, none)
        } else {
            let (batch, labels) = prm_inputs(
                self.prompts.dataset(),
                &self.vocabulary,
                self.config.memory.logprob_chunk,
                rows,
                policy_reference.then_some(old),
                &self.device,
            )?;
            (Some(batch), labels)
        };
        prm.step_sharded(batch.as_ref(), &labels, &shard, self.comm.as_ref())
            .map(Some)
            .map_err(|e| TrainError::Prm(e.to_string()))
    }

    /// Phase 4 (§8–9): per-token advantages from the outcome scores and the implicit rewards,
    /// through the configured estimator; returns the rows ready for the PPO update.
    pub fn advantages(
        &self,
        rows: &[Row],
        old: OldLogProbs,
        prm: Option<&PrmOutput>,
    ) -> Result<Vec<TrainRow>, TrainError> {
        // The estimator sees the whole batch (batch whitening, batch-norm maxima): every rank
        // gathers every row and keeps the advantages of its own.
        let local = rows.iter().enumerate().map(|(i, r)| {
            let rewards = prm.map(|o| o.rewards.token_rewards[i].clone());
            let row = GlobalRow {
                group: r.group,
                score: r.score,
                length: r.response.len(),
                rewards: rewards.unwrap_or_default(),
            };
            (r.global, row)
        });
        let global = gather_rows(self.comm.as_ref(), local)?;
        let process: Option<Vec<Vec<f32>>> =
            prm.map(|_| global.iter().map(|r| r.rewards.clone()).collect());
        let batch = RolloutBatch::from_ragged(
            global.iter().map(|r| r.group).collect(),
            global.iter().map(|r| r.length).collect(),
            global.iter().map(|r| r.score as f32).collect(),
            process.as_deref(),
            None,
        )
        .map_err(|e| TrainError::Advantage(e.to_string()))?;
        let advantages = self
            .tools
            .estimator
            .estimate(&batch)
            .map_err(|e| TrainError::Advantage(e.to_string()))?;
        let mut reference = old.kl_reference.map(Vec::into_iter);
        Ok(rows
            .iter()
            .zip(old.policy)
            .map(|(row, old_log_probs)| TrainRow {
                global: row.global,
                prompt: self.prompts.dataset().prompt_ids(row.prompt).to_vec(),
                response: row.response.clone(),
                old_log_probs,
                ref_log_probs: reference.as_mut().and_then(Iterator::next),
                advantages: advantages.advantage_row(row.global)[..row.response.len()].to_vec(),
            })
            .collect())
    }

    /// Phase 5 (§10): the PPO-clip update of the policy at learning rate `lr`.
    pub fn policy_update(
        &mut self,
        step: usize,
        lr: f64,
        rows: &[TrainRow],
    ) -> Result<PpoStats, TrainError> {
        let cfg = &self.config;
        let settings = PpoSettings {
            loss: crate::policy_loss::PolicyLossConfig {
                clip_eps: cfg.ppo.clip_eps,
                entropy_coef: cfg.ppo.entropy_coef,
                kl_coef: cfg.ppo.kl_coef,
                kl_estimator: cfg.ppo.kl_estimator,
                aggregation: cfg.ppo.aggregation,
            },
            epochs: cfg.ppo.epochs,
            mini_batch_size: cfg.ppo.mini_batch_size,
            micro_batch_size: cfg.ppo.micro_batch_size,
            lr,
            grad_clip: cfg.optim.grad_clip,
            pad_id: self.vocabulary.pad_id,
            vocab_limit: self.vocabulary.vocab_limit(),
            logprob_chunk: cfg.memory.logprob_chunk,
            recompute_layers: cfg.memory.checkpoint_activations,
            seed: seed_for(cfg.seed, PPO_ORDER, &[step as u64]),
        };
        let comm = self.comm.as_ref();
        let globals: Vec<usize> = rows.iter().map(|r| r.global).collect();
        let lengths = rows.iter().zip(&globals).map(|(r, &global)| {
            let length = r.response.len();
            let row = GlobalRow {
                group: 0,
                score: 0.0,
                length,
                rewards: Vec::new(),
            };
            (global, row)
        });
        let lengths: Vec<usize> = gather_rows(comm, lengths)?
            .iter()
            .map(|r| r.length)
            .collect();
        let shard = shard_of(comm, globals)?;
        let shard = PpoShard {
            comm,
            rows: &shard,
            lengths: &lengths,
        };
        let policy = self.models.policy.clone();
        let (policy, stats) = ppo_update_sharded(
            policy,
            &mut self.models.optimizer,
            rows,
            &settings,
            &shard,
            &self.device,
        )?;
        self.models.policy = policy;
        Ok(stats)
    }

    /// The prompt and response ids of every row.
    fn token_rows<'a>(&'a self, rows: &'a [Row]) -> (Vec<&'a [u32]>, Vec<&'a [u32]>) {
        token_rows(self.prompts.dataset(), rows)
    }

    fn skip(&mut self, mut m: StepMetrics, why: &str, started: Instant) -> StepMetrics {
        self.state.skipped_total += 1;
        tracing::warn!(step = m.step, why, "step skipped");
        m.skipped = true;
        m.skipped_total = self.state.skipped_total;
        m.time_step = started.elapsed().as_secs_f64();
        m
    }

    /// Keeps a few responses with their per-token implicit rewards for the report, on about ten
    /// evenly spaced steps of the run.
    fn maybe_record_samples(
        &mut self,
        step: usize,
        rows: &[Row],
        prm: Option<&PrmOutput>,
    ) -> Result<(), TrainError> {
        let every = (self.config.steps / 10).max(1);
        let wanted = self.config.logging.sample_responses;
        if wanted == 0 || !(step == 1 || step % every == 0 || step == self.config.steps) {
            return Ok(());
        }
        let tokenizer = &self.vocabulary.tokenizer;
        for (i, row) in rows.iter().enumerate().take(wanted) {
            let tokens = row
                .response
                .iter()
                .map(|&id| {
                    tokenizer
                        .decode(&[id], false)
                        .unwrap_or_else(|_| format!("<{id}>"))
                })
                .collect();
            let prompt = self
                .prompts
                .dataset()
                .problem(row.prompt)
                .messages
                .iter()
                .map(|msg| msg.content.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let rewards = prm
                .map(|p| {
                    p.rewards.token_rewards[i]
                        .iter()
                        .map(|&v| v as f64)
                        .collect()
                })
                .unwrap_or_default();
            self.logs.samples.write(&SampleRecord {
                step,
                prompt,
                tokens,
                rewards,
                score: row.score,
            })?;
        }
        Ok(())
    }
}

/// The prompt and response ids of every row.
fn token_rows<'a>(dataset: &'a PromptDataset, rows: &'a [Row]) -> (Vec<&'a [u32]>, Vec<&'a [u32]>) {
    rows.iter()
        .map(|r| (dataset.prompt_ids(r.prompt), r.response.as_slice()))
        .unzip()
}

/// The implicit PRM's batch (with the old policy's log-probs when `policy_reference` gives
/// them: `reference.mode = "policy"`) and its outcome labels.
fn prm_inputs<B: AutodiffBackend>(
    dataset: &PromptDataset,
    vocabulary: &Vocabulary,
    logprob_chunk: usize,
    rows: &[Row],
    policy_reference: Option<&OldLogProbs>,
    device: &B::Device,
) -> Result<(PrmBatch<B>, OutcomeLabels), TrainError> {
    let (prompts, responses) = token_rows(dataset, rows);
    let responses = ResponseBatch::<B>::from_ids(&prompts, &responses, vocabulary.pad_id, device)
        .map_err(|e| TrainError::Model(e.to_string()))?
        .with_vocab_limit(vocabulary.vocab_limit())
        .with_logprob_chunk(logprob_chunk);
    let width = responses.tokens.input_ids.dims()[1] - responses.response_start;
    let mut batch = PrmBatch::from(responses);
    if let Some(old) = policy_reference {
        batch = batch.with_reference_log_probs(padded_tensor(&old.policy, width, device));
    }
    let labels = OutcomeLabels {
        acc: rows.iter().map(|r| r.score as f32).collect(),
        group_ids: rows.iter().map(|r| r.group).collect(),
    };
    Ok((batch, labels))
}

/// Sampling, verification and filter counts into the step's metrics.
fn record_rollout(m: &mut StepMetrics, rollouts: &Rollouts) {
    let (f, t, rows) = (&rollouts.filter, &rollouts.tally, &rollouts.batch);
    m.groups_sampled = f.groups_sampled;
    m.groups_kept = f.groups_kept - rollouts.groups_undecodable;
    m.groups_too_easy = f.too_easy;
    m.groups_too_hard = f.too_hard;
    m.groups_truncated = f.truncated;
    m.filter_rounds = f.rounds;
    m.accuracy = t.score_sum / t.responses.max(1) as f64;
    m.verify_no_answer = t.counts.no_answer;
    m.verify_timeout = t.counts.timeout;
    m.verify_error = t.counts.error;
    m.verify_undecodable = t.undecodable;
    m.groups_undecodable = rollouts.groups_undecodable;
    m.weight_sync_seconds = rollouts.weight_sync_seconds;
    m.time_rollout = t.rollout_seconds;
    m.time_verify = t.verify_seconds;
    m.sampling_tokens_per_s = t.tokens as f64 / t.rollout_seconds.max(1e-9);
    if rows.is_empty() {
        return;
    }
    let n = rows.len() as f64;
    m.accuracy_kept = rows.iter().map(|r| r.score).sum::<f64>() / n;
    m.response_length = rows.iter().map(|r| r.length).sum::<usize>() as f64 / n;
    m.response_length_max = rows.iter().map(|r| r.length).max().unwrap_or(0);
    m.truncated_frac = rows.iter().filter(|r| r.truncated).count() as f64 / n;
}

/// The PPO update's statistics into the step's metrics.
fn record_policy_update(m: &mut StepMetrics, stats: &PpoStats) {
    m.policy_loss = stats.policy_loss;
    m.clip_frac = stats.clip_frac;
    m.approx_kl = stats.approx_kl;
    m.entropy = stats.entropy;
    m.ref_kl = stats.ref_kl;
    m.grad_norm = stats.grad_norm;
    m.time_policy = stats.seconds;
    m.training_tokens_per_s = stats.tokens as f64 / stats.seconds.max(1e-9);
}
