//! The memory planner (`cargo xtask plan`): the bytes of a run's peak, per component, from the
//! config and the model's shape, before anything is allocated.
//!
//! A PRIME step runs its phases one after the other, so the peak is
//!
//! ```text
//! total = weights + optimizer + max(training, sampling)
//! training = max over the policy and the PRM of (grads + activations + logits)
//! sampling = the rollout (or evaluation) micro-batch's KV cache and decoding transients
//! ```
//!
//! - **weights**: with LoRA, one frozen base (projection weights in `model.base_dtype`, the
//!   embedding, LM head, norms and biases in f32) read by the policy, the PRM, the PRM's
//!   reference and the KL reference, plus two f32 adapters (policy, PRM). Without, every model
//!   in f32: policy, PRM, the PRM's frozen reference (`reference.mode = "freeze"`), the KL
//!   reference (`ppo.kl_coef ≠ 0`).
//! - **grads**: f32, one per trainable parameter of the model being updated; twice that for the
//!   policy when a PPO mini-batch takes several micro-batches (burn's `GradientsAccumulator`
//!   holds the running sum while a micro-batch's gradients are added to it).
//! - **optimizer**: AdamW's two f32 moments per trainable parameter of the policy and the PRM
//!   (`8` bytes each; the per-tensor step counters are left out).
//! - **activations**: what a forward under autodiff keeps for the backward ([`activations`]),
//!   for the PPO micro-batch (`ppo.micro_batch_size` rows) and the PRM's
//!   (`prm.micro_batch_size` rows, or its whole `prm.mini_batch_size` when 0), each row
//!   `data.max_prompt_len + rollout.max_response_len` positions.
//! - **logits**: `[positions, vocab]` f32 tensors of the token log-probs: all positions of the
//!   micro-batch unchunked, `memory.logprob_chunk` of them chunked ([`activations::logit_bytes`]).
//! - **kv_cache**: sampling `rollout.micro_batch_size × rollout.n_samples` rows (or evaluating
//!   `eval.micro_batch_size × eval.k`): the cache and what decoding holds besides it
//!   ([`kv_cache`]).
//!
//! Each component is its largest over the phases; `total` is the peak phase, which may be less
//! than the sum. Not planned: the SFT warm-up, the inference forwards (old log-probs, the PRM's
//! reference), the process itself (binary, tokenizer, allocator); docs/performance.md compares
//! the plan with measured peaks.

pub mod activations;
pub mod architecture;
pub mod device;
mod error;
pub mod kv_cache;
#[cfg(test)]
mod tests;

use prime_implicit_prm::UpdateMode;
use prime_models::BaseDtype;
use serde::Serialize;

use crate::config::{ReferenceMode, TrainConfig};
use activations::{activation_bytes, logit_bytes, Tracking};
pub use architecture::{policy_architecture, prm_architecture, Architecture};
pub use error::PlanError;

/// Bytes per component of a run's peak (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanBytes {
    /// Parameters of every model held.
    pub weights: u64,
    /// Gradients of the model being updated.
    pub grads: u64,
    /// AdamW moments of the policy and the PRM.
    pub optimizer: u64,
    /// Saved activations of the largest training micro-batch.
    pub activations: u64,
    /// `[positions, vocab]` tensors of its token log-probs.
    pub logits: u64,
    /// The sampling micro-batch's KV cache and decoding transients.
    pub kv_cache: u64,
    /// The peak: `weights + optimizer + max(training, sampling)`.
    pub total: u64,
}

/// A run's memory plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryPlan {
    /// Parameters held (a shared base counted once).
    pub params: u64,
    /// Parameters with gradients and AdamW state (policy and PRM).
    pub trainable_params: u64,
    /// Bytes per component.
    pub bytes: PlanBytes,
    /// How the numbers were reached (for the table).
    #[serde(skip)]
    pub details: PlanDetails,
}

/// The inputs and phases behind a plan, for the table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanDetails {
    /// Where the architecture was read from.
    pub architecture: String,
    /// Parameters of one model of the policy's architecture.
    pub model_params: u64,
    /// Positions per training row.
    pub seq: u64,
    /// Rows of the PPO micro-batch.
    pub ppo_rows: u64,
    /// Rows of the PRM's backward (0 without PRM updates).
    pub prm_rows: u64,
    /// Rows of the sampling micro-batch.
    pub sampling_rows: u64,
    /// Bytes of the policy's update phase (grads + activations + logits).
    pub policy_phase: u64,
    /// Bytes of the PRM's update phase.
    pub prm_phase: u64,
    /// Bytes of sampling.
    pub sampling_phase: u64,
}

/// Plans `config`, reading the architecture as [`policy_architecture`] says.
pub fn plan(config: &TrainConfig) -> Result<MemoryPlan, PlanError> {
    let policy = policy_architecture(config)?;
    let prm = prm_architecture(config)?;
    Ok(plan_for(config, &policy, prm.as_ref()))
}

/// The plan of `config` for a policy of shape `policy` and a PRM of shape `prm` (`None`: a copy
/// of the policy). Pure: no file is read.
pub fn plan_for(
    config: &TrainConfig,
    policy: &Architecture,
    prm: Option<&Architecture>,
) -> MemoryPlan {
    let lora = config.lora.enabled();
    let own_prm = prm.is_some();
    let prm_arch = prm.unwrap_or(policy);
    let prm_on = config.prm.enabled;
    let prm_trains = prm_on && config.prm.update != UpdateMode::None;
    let tracking = if lora {
        Tracking::Lora(&config.lora)
    } else {
        Tracking::Full
    };
    let base_bytes = match config.model.base_dtype {
        BaseDtype::F32 => 4,
        BaseDtype::Bf16 => 2,
    };
    let base = |a: &Architecture| {
        a.layers * a.projection_weights_per_layer() * base_bytes + a.other_params() * 4
    };

    let (weights, params, policy_train, prm_train) = if lora {
        let adapter_policy = policy.adapter_params(&config.lora);
        let adapter_prm = if prm_on {
            prm_arch.adapter_params(&config.lora)
        } else {
            0
        };
        let own_base = if prm_on && own_prm { base(prm_arch) } else { 0 };
        let own_params = if prm_on && own_prm {
            prm_arch.params()
        } else {
            0
        };
        (
            base(policy) + own_base + 4 * (adapter_policy + adapter_prm),
            policy.params() + own_params + adapter_policy + adapter_prm,
            adapter_policy,
            if prm_trains { adapter_prm } else { 0 },
        )
    } else {
        let prm_models =
            u64::from(prm_on) + u64::from(prm_on && config.reference.mode == ReferenceMode::Freeze);
        let policy_models = 1 + u64::from(config.ppo.kl_coef != 0.0);
        let held = policy_models * policy.params() + prm_models * prm_arch.params();
        (
            4 * held,
            held,
            policy.params(),
            if prm_trains { prm_arch.params() } else { 0 },
        )
    };

    let (prompt, response) = (
        config.data.max_prompt_len as u64,
        config.rollout.max_response_len as u64,
    );
    let seq = prompt + response;
    let batch_rows = (config.rollout.batch_size * config.rollout.n_samples).max(1) as u64;
    let mini = (config.ppo.mini_batch_size as u64).clamp(1, batch_rows);
    let ppo_rows = (config.ppo.micro_batch_size as u64).clamp(1, mini);
    let accumulation = if mini > ppo_rows { 2 } else { 1 };
    let prm_rows = if prm_trains {
        let mini = (config.prm.mini_batch_size as u64).clamp(1, batch_rows);
        match config.prm.micro_batch_size as u64 {
            0 => mini,
            micro => micro.min(mini),
        }
    } else {
        0
    };
    let checkpoint = config.memory.checkpoint_activations;
    let upcast = lora && config.model.base_dtype == BaseDtype::Bf16;
    let chunk = config.memory.logprob_chunk as u64;

    // The policy's update computes the entropy (3 kept `[positions, vocab]` tensors), the PRM's
    // loss the log-probs alone (1).
    let policy_terms = (
        4 * policy_train * accumulation,
        activation_bytes(policy, ppo_rows, seq, tracking, checkpoint, upcast),
        logit_bytes(policy, ppo_rows, seq, response, chunk, 3),
    );
    let prm_terms = if prm_trains {
        (
            4 * prm_train,
            activation_bytes(prm_arch, prm_rows, seq, tracking, checkpoint, upcast),
            logit_bytes(prm_arch, prm_rows, seq, response, chunk, 1),
        )
    } else {
        (0, 0, 0)
    };
    let phase = |(g, a, l): (u64, u64, u64)| g + a + l;

    let rollout_rows = (config
        .rollout
        .micro_batch_size
        .clamp(1, config.rollout.batch_size.max(1))
        * config.rollout.n_samples) as u64;
    let eval_rows = (config.eval.micro_batch_size.max(1) * config.eval.k.max(1)) as u64;
    let eval_response = config
        .eval
        .max_response_len
        .unwrap_or(config.rollout.max_response_len) as u64;
    let sampling = kv_cache::sampling_bytes(policy, rollout_rows, prompt, response).max(
        kv_cache::sampling_bytes(policy, eval_rows, prompt, eval_response),
    );

    let optimizer = 8 * (policy_train + prm_train);
    let training = phase(policy_terms).max(phase(prm_terms));
    let bytes = PlanBytes {
        weights,
        grads: policy_terms.0.max(prm_terms.0),
        optimizer,
        activations: policy_terms.1.max(prm_terms.1),
        logits: policy_terms.2.max(prm_terms.2),
        kv_cache: sampling,
        total: weights + optimizer + training.max(sampling),
    };
    MemoryPlan {
        params,
        trainable_params: policy_train + prm_train,
        bytes,
        details: PlanDetails {
            architecture: policy.source.clone(),
            model_params: policy.params(),
            seq,
            ppo_rows,
            prm_rows,
            sampling_rows: rollout_rows,
            policy_phase: phase(policy_terms),
            prm_phase: phase(prm_terms),
            sampling_phase: sampling,
        },
    }
}

impl MemoryPlan {
    /// The plan as one JSON line: `{"params": …, "trainable_params": …, "bytes": {…}}`.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The components (all but `total`) as `(name, bytes)`, in the JSON line's order.
    pub fn components(&self) -> [(&'static str, u64); 6] {
        let b = &self.bytes;
        [
            ("weights", b.weights),
            ("grads", b.grads),
            ("optimizer", b.optimizer),
            ("activations", b.activations),
            ("logits", b.logits),
            ("kv_cache", b.kv_cache),
        ]
    }

    /// The components, largest first.
    pub fn largest_components(&self) -> Vec<(&'static str, u64)> {
        let mut parts = self.components().to_vec();
        parts.sort_by_key(|&(_, bytes)| std::cmp::Reverse(bytes));
        parts
    }

    /// A readable table of the plan.
    pub fn table(&self) -> String {
        let d = &self.details;
        let b = &self.bytes;
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "architecture   {} ({} parameters per model)",
            d.architecture, d.model_params
        ));
        line(format!(
            "params held    {}   trainable {}",
            self.params, self.trainable_params
        ));
        line(format!(
            "rows           PPO micro-batch {}, PRM backward {}, sampling {}; {} positions per training row",
            d.ppo_rows, d.prm_rows, d.sampling_rows, d.seq
        ));
        line(format!("{:<14} {:>16} {:>10}", "component", "bytes", "GB"));
        for (name, value) in self.components() {
            line(format!("{name:<14} {value:>16} {:>10.2}", gb(value)));
        }
        line(format!(
            "phases         policy update {:.2} GB, PRM update {:.2} GB, sampling {:.2} GB",
            gb(d.policy_phase),
            gb(d.prm_phase),
            gb(d.sampling_phase)
        ));
        line(format!(
            "{:<14} {:>16} {:>10.2}   = weights + optimizer + max(phases)",
            "total",
            b.total,
            gb(b.total)
        ));
        out
    }
}

/// Bytes in GB (10⁹).
pub fn gb(bytes: u64) -> f64 {
    bytes as f64 / 1e9
}
