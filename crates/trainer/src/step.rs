//! One PRIME step, in the order of docs/algorithm.md §1–10:
//! sample K per prompt → verify → accuracy filter with refill and buffer → old log-probs →
//! implicit PRM rewards and update → advantages → PPO update → metrics.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use prime_advantages::RolloutBatch;
use prime_implicit_prm::{OutcomeLabels, PrmBatch, PrmOutput};
use prime_models::SamplingConfig;

use crate::config::ReferenceMode;
use crate::cursor::derive_seed;
use crate::error::TrainError;
use crate::filter::Collector;
use crate::metrics::{SampleRecord, StepMetrics};
use crate::policy::{log_probs_of, ppo_update, response_batch, PpoSettings, TrainRow};
use crate::ppo::PolicyLossConfig;
use crate::rollout::{RolloutTally, Sampler};
use crate::tensors::{pad_rows, tensor2};
use crate::trainer::Trainer;

/// One response of the step's batch, flattened out of its group.
struct Row {
    prompt: usize,
    group: usize,
    response: Vec<u32>,
    score: f64,
    truncated: bool,
}

impl<B: AutodiffBackend> Trainer<B> {
    /// Runs RL step `step` (1-based) and returns its metrics. A step with no surviving group, or
    /// with non-finite rewards or advantages, changes no weights and is reported as skipped.
    pub(crate) fn step(&mut self, step: usize) -> Result<StepMetrics, TrainError> {
        let step_started = Instant::now();
        let cfg = self.config.clone();
        let lr = self.schedule.lr(step - 1);
        let mut m = StepMetrics {
            step,
            lr,
            ..Default::default()
        };
        let seed = self.config.seed;

        // 1–4: sample, verify, filter with refill; surplus prompts back to the buffer.
        let inference = self.policy.valid();
        let sampler = Sampler {
            tokenizer: &self.tokenizer,
            sampling: SamplingConfig {
                max_new_tokens: cfg.rollout.max_response_len,
                temperature: cfg.rollout.temperature as f32,
                top_k: cfg.rollout.top_k,
                top_p: cfg.rollout.top_p as f32,
                greedy: false,
                stop_token_ids: self.stop_ids.clone(),
                pad_token_id: self.pad_id,
            },
            samples_per_prompt: cfg.rollout.n_samples,
            prompts_per_call: cfg.rollout.micro_batch_size,
            runner: &self.runner,
        };
        let collector = Collector::new(cfg.rollout.batch_size, &cfg.filter);
        let mut tally = RolloutTally::default();
        let mut buffer = self.buffer();
        let mut round = 0u64;
        let train = &self.train;
        let device_owned = self.device.clone();
        let device = &device_owned;
        let cursor = &mut self.state.cursor;
        let (groups, fstats) = collector.collect(
            &mut buffer,
            || cursor.next_index(),
            |prompts: Vec<usize>| {
                round += 1;
                sampler.sample(
                    &inference,
                    train,
                    &prompts,
                    &[seed, 0x5A, step as u64, round],
                    device,
                    &mut tally,
                )
            },
        )?;
        self.state.buffer = buffer.into_iter().collect();
        m.groups_sampled = fstats.groups_sampled;
        m.groups_kept = fstats.groups_kept;
        m.groups_too_easy = fstats.too_easy;
        m.groups_too_hard = fstats.too_hard;
        m.groups_truncated = fstats.truncated;
        m.filter_rounds = fstats.rounds;
        m.buffer_size = self.state.buffer.len();
        m.accuracy = tally.score_sum / tally.responses.max(1) as f64;
        m.verify_no_answer = tally.counts.no_answer;
        m.verify_timeout = tally.counts.timeout;
        m.verify_error = tally.counts.error;
        m.time_rollout = tally.rollout_seconds;
        m.time_verify = tally.verify_seconds;
        m.sampling_tokens_per_s = tally.tokens as f64 / tally.rollout_seconds.max(1e-9);

        let rows: Vec<Row> = groups
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
        if rows.is_empty() {
            return Ok(self.skip(m, "no group survived the filter", step_started));
        }
        let n = rows.len() as f64;
        m.accuracy_kept = rows.iter().map(|r| r.score).sum::<f64>() / n;
        m.response_length = rows.iter().map(|r| r.response.len()).sum::<usize>() as f64 / n;
        m.response_length_max = rows.iter().map(|r| r.response.len()).max().unwrap_or(0);
        m.truncated_frac = rows.iter().filter(|r| r.truncated).count() as f64 / n;
        let prompts: Vec<&[u32]> = rows
            .iter()
            .map(|r| self.train[r.prompt].ids.as_slice())
            .collect();
        let responses: Vec<&[u32]> = rows.iter().map(|r| r.response.as_slice()).collect();
        let lengths: Vec<usize> = responses.iter().map(|r| r.len()).collect();

        // 5: old log-probs with the training model (and the KL reference's).
        let started = Instant::now();
        let micro = cfg.ppo.micro_batch_size;
        let old = log_probs_of(&inference, &prompts, &responses, micro, self.pad_id, device)?;
        let reference = match &self.kl_reference {
            Some(r) => Some(log_probs_of(
                r,
                &prompts,
                &responses,
                micro,
                self.pad_id,
                device,
            )?),
            None => None,
        };
        m.time_old_log_probs = started.elapsed().as_secs_f64();

        // 6–7: implicit PRM rewards and update.
        let started = Instant::now();
        let acc: Vec<f32> = rows.iter().map(|r| r.score as f32).collect();
        let group_ids: Vec<usize> = rows.iter().map(|r| r.group).collect();
        let prm_out: Option<PrmOutput> = match self.prm.as_mut() {
            Some(prm) => {
                let mut batch: PrmBatch<B> =
                    response_batch::<B>(&prompts, &responses, self.pad_id, device)?.into();
                if cfg.reference.mode == ReferenceMode::Policy {
                    let width =
                        batch.responses.tokens.input_ids.dims()[1] - batch.responses.response_start;
                    let t = tensor2(pad_rows(&old, width), old.len(), width, device);
                    batch = batch.with_reference_log_probs(t);
                }
                let labels = OutcomeLabels {
                    acc: acc.clone(),
                    group_ids: group_ids.clone(),
                };
                Some(
                    prm.step(&batch, &labels)
                        .map_err(|e| TrainError::Prm(e.to_string()))?,
                )
            }
            None => None,
        };
        m.time_prm = started.elapsed().as_secs_f64();
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
                return Ok(self.skip(m, "non-finite implicit rewards or PRM loss", step_started));
            }
        }

        // 9: advantages through the configured estimator.
        let started = Instant::now();
        let process = prm_out.as_ref().map(|o| o.rewards.token_rewards.as_slice());
        let batch = RolloutBatch::from_ragged(group_ids, lengths.clone(), acc, process, None)
            .map_err(|e| TrainError::Advantage(e.to_string()))?;
        let advantages = self
            .estimator
            .estimate(&batch)
            .map_err(|e| TrainError::Advantage(e.to_string()))?;
        m.time_advantage = started.elapsed().as_secs_f64();
        let mut abs_sum = 0.0;
        let mut finite = true;
        let train_rows: Vec<TrainRow> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let adv = advantages.advantage_row(i)[..lengths[i]].to_vec();
                for a in &adv {
                    finite &= a.is_finite();
                    abs_sum += a.abs() as f64;
                }
                TrainRow {
                    prompt: prompts[i].to_vec(),
                    response: r.response.clone(),
                    old_log_probs: old[i].clone(),
                    ref_log_probs: reference.as_ref().map(|x| x[i].clone()),
                    advantages: adv,
                }
            })
            .collect();
        m.advantage_abs_mean = abs_sum / lengths.iter().sum::<usize>().max(1) as f64;
        if !finite {
            return Ok(self.skip(m, "non-finite advantages", step_started));
        }
        self.maybe_record_samples(step, &rows, prm_out.as_ref())?;

        // 10: PPO-clip update.
        let settings = PpoSettings {
            loss: PolicyLossConfig {
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
            pad_id: self.pad_id,
            seed: derive_seed(seed, &[0x990, step as u64]),
        };
        let policy = self.policy.clone();
        let (policy, stats) =
            ppo_update(policy, &mut self.optimizer, &train_rows, &settings, device)?;
        self.policy = policy;
        m.policy_loss = stats.policy_loss;
        m.clip_frac = stats.clip_frac;
        m.approx_kl = stats.approx_kl;
        m.entropy = stats.entropy;
        m.ref_kl = stats.ref_kl;
        m.grad_norm = stats.grad_norm;
        m.time_policy = stats.seconds;
        m.training_tokens_per_s = stats.tokens as f64 / stats.seconds.max(1e-9);
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
        m.time_step = step_started.elapsed().as_secs_f64();
        Ok(m)
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
        let mut samples = Vec::new();
        for (i, row) in rows.iter().enumerate().take(wanted) {
            let tokens = row
                .response
                .iter()
                .map(|&id| {
                    self.tokenizer
                        .decode(&[id], false)
                        .unwrap_or_else(|_| format!("<{id}>"))
                })
                .collect();
            let prompt = self.train[row.prompt]
                .problem
                .messages
                .iter()
                .map(|msg| msg.content.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            samples.push(SampleRecord {
                step,
                prompt,
                tokens,
                rewards: prm
                    .map(|p| {
                        p.rewards.token_rewards[i]
                            .iter()
                            .map(|&v| v as f64)
                            .collect()
                    })
                    .unwrap_or_default(),
                score: row.score,
            });
        }
        self.record_samples(samples)
    }
}
