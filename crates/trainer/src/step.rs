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
use crate::error::TrainError;
use crate::filter::{Collector, FilterStats};
use crate::metrics::{SampleRecord, StepMetrics};
use crate::ppo_update::{log_probs_of, ppo_update, PpoSettings, PpoStats, TrainRow};
use crate::ragged::padded_tensor;
use crate::rollout::{without_undecodable, RolloutTally, Sampler};
use crate::seeds::{seed_for, PPO_ORDER, ROLLOUT};
use crate::setup::Vocabulary;
use crate::trainer::Trainer;

/// One response of the step's batch, flattened out of its group.
pub struct Row {
    /// Dataset index of its prompt.
    prompt: usize,
    /// Its group (prompt) within the step.
    group: usize,
    response: Vec<u32>,
    score: f64,
    truncated: bool,
}

/// Phase 1's result: the kept responses and what sampling and filtering counted.
pub struct Rollouts {
    rows: Vec<Row>,
    filter: FilterStats,
    tally: RolloutTally,
    /// Kept groups left out of training for a response that could not be decoded.
    groups_undecodable: usize,
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
        if rows.is_empty() {
            return Ok(self.skip(m, "no group survived the filter", started));
        }

        let phase = Instant::now();
        let old = self.old_log_probs(&rows)?;
        m.time_old_log_probs = phase.elapsed().as_secs_f64();

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
            if !finite || !m.prm_loss.is_finite() && out.stats.loss.is_some() {
                return Ok(self.skip(m, "non-finite implicit rewards or PRM loss", started));
            }
        }

        let phase = Instant::now();
        let train_rows = self.advantages(&rows, old, prm_out.as_ref())?;
        m.time_advantage = phase.elapsed().as_secs_f64();
        let tokens = train_rows.iter().map(|r| r.advantages.len()).sum::<usize>();
        let advantages = train_rows.iter().flat_map(|r| &r.advantages);
        if advantages.clone().any(|a| !a.is_finite()) {
            return Ok(self.skip(m, "non-finite advantages", started));
        }
        m.advantage_abs_mean =
            advantages.map(|a| a.abs() as f64).sum::<f64>() / tokens.max(1) as f64;
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
        let (groups, filter) = collector.collect(&mut self.prompts, |prompts: Vec<usize>| {
            round += 1;
            let seed = seed_for(cfg.seed, ROLLOUT, &[step as u64, round]);
            sampler.sample(
                &inference,
                &dataset,
                &prompts,
                seed,
                &self.device,
                &mut tally,
            )
        })?;
        let (groups, groups_undecodable) = without_undecodable(groups);
        if groups_undecodable > 0 {
            tracing::warn!(
                step,
                groups = groups_undecodable,
                "groups with an undecodable response left out of training"
            );
        }
        let rows = groups
            .iter()
            .enumerate()
            .flat_map(|(g, group)| {
                group.responses.iter().map(move |r| Row {
                    prompt: group.prompt,
                    group: g,
                    response: r.ids.clone(),
                    score: r.score,
                    truncated: r.truncated,
                })
            })
            .collect();
        Ok(Rollouts {
            rows,
            filter,
            tally,
            groups_undecodable,
        })
    }

    /// Phase 2 (§5): `log π_θold` of every response token with the weights that sampled (and
    /// the KL reference's, when there is a KL term).
    pub fn old_log_probs(&self, rows: &[Row]) -> Result<OldLogProbs, TrainError> {
        let (prompts, responses) = self.token_rows(rows);
        let micro = self.config.ppo.micro_batch_size;
        let (pad, limit) = (self.vocabulary.pad_id, self.vocabulary.vocab_limit());
        let score = |model: &M::InnerModule| {
            log_probs_of(model, &prompts, &responses, micro, pad, limit, &self.device)
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
        let (batch, labels) = prm_inputs(
            self.prompts.dataset(),
            &self.vocabulary,
            rows,
            policy_reference.then_some(old),
            &self.device,
        )?;
        prm.step(&batch, &labels)
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
        let lengths: Vec<usize> = rows.iter().map(|r| r.response.len()).collect();
        let process = prm.map(|o| o.rewards.token_rewards.as_slice());
        let batch = RolloutBatch::from_ragged(
            rows.iter().map(|r| r.group).collect(),
            lengths.clone(),
            rows.iter().map(|r| r.score as f32).collect(),
            process,
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
            .enumerate()
            .map(|(i, (row, old_log_probs))| TrainRow {
                prompt: self.prompts.dataset().prompt_ids(row.prompt).to_vec(),
                response: row.response.clone(),
                old_log_probs,
                ref_log_probs: reference.as_mut().and_then(Iterator::next),
                advantages: advantages.advantage_row(i)[..lengths[i]].to_vec(),
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
            seed: seed_for(cfg.seed, PPO_ORDER, &[step as u64]),
        };
        let policy = self.models.policy.clone();
        let (policy, stats) = ppo_update(
            policy,
            &mut self.models.optimizer,
            rows,
            &settings,
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
    rows: &[Row],
    policy_reference: Option<&OldLogProbs>,
    device: &B::Device,
) -> Result<(PrmBatch<B>, OutcomeLabels), TrainError> {
    let (prompts, responses) = token_rows(dataset, rows);
    let responses = ResponseBatch::<B>::from_ids(&prompts, &responses, vocabulary.pad_id, device)
        .map_err(|e| TrainError::Model(e.to_string()))?
        .with_vocab_limit(vocabulary.vocab_limit());
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
    let (f, t, rows) = (&rollouts.filter, &rollouts.tally, &rollouts.rows);
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
    m.time_rollout = t.rollout_seconds;
    m.time_verify = t.verify_seconds;
    m.sampling_tokens_per_s = t.tokens as f64 / t.rollout_seconds.max(1e-9);
    if rows.is_empty() {
        return;
    }
    let n = rows.len() as f64;
    m.accuracy_kept = rows.iter().map(|r| r.score).sum::<f64>() / n;
    m.response_length = rows.iter().map(|r| r.response.len()).sum::<usize>() as f64 / n;
    m.response_length_max = rows.iter().map(|r| r.response.len()).max().unwrap_or(0);
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
