//! Range and consistency checks that serde cannot express.

use prime_models::ScratchArchitecture;

use super::TrainConfig;
use crate::error::ConfigError;

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

fn positive(key: &str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        Err(invalid(key, "must be at least 1"))
    } else {
        Ok(())
    }
}

fn finite_non_negative(key: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("must be a finite number ≥ 0, got {value}"),
        ))
    }
}

fn check_scratch(section: &str, s: &ScratchArchitecture) -> Result<(), ConfigError> {
    let key = |field: &str| format!("{section}.{field}");
    positive(&key("hidden_size"), s.hidden_size)?;
    positive(&key("num_hidden_layers"), s.num_hidden_layers)?;
    positive(&key("num_attention_heads"), s.num_attention_heads)?;
    positive(&key("num_key_value_heads"), s.num_key_value_heads)?;
    if s.hidden_size % s.num_attention_heads != 0 {
        return Err(invalid(
            &key("hidden_size"),
            "must be a multiple of num_attention_heads",
        ));
    }
    if s.num_attention_heads % s.num_key_value_heads != 0 {
        return Err(invalid(
            &key("num_key_value_heads"),
            "must divide num_attention_heads",
        ));
    }
    Ok(())
}

impl TrainConfig {
    /// Checks every range and cross-section constraint (choices are enums, checked by serde).
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_scratch("model.scratch", &self.model.scratch)?;
        self.validate_lora()?;
        if self.sft.enabled {
            positive("sft.steps", self.sft.steps)?;
            positive("sft.batch_size", self.sft.batch_size)?;
            finite_non_negative("sft.lr", self.sft.lr)?;
        }

        finite_non_negative("prm.beta", self.prm.beta)?;
        finite_non_negative("prm.lr", self.prm.lr)?;
        finite_non_negative("prm.grad_clip", self.prm.grad_clip)?;
        positive("prm.mini_batch_size", self.prm.mini_batch_size)?;
        if let (true, Some(scratch)) = (self.prm.enabled, &self.prm.scratch) {
            check_scratch("prm.scratch", scratch)?;
            if self.prm.path.is_some() {
                return Err(invalid(
                    "prm.scratch",
                    "set either prm.path (load the PRM) or prm.scratch (build it), not both",
                ));
            }
            if !self.sft.enabled {
                return Err(invalid(
                    "prm.scratch",
                    "a PRM built from scratch needs the SFT warm-up (sft.enabled = true)",
                ));
            }
        }
        self.advantage
            .validate()
            .map_err(|e| invalid("advantage", e.to_string()))?;
        // Whether `advantage.estimator` is registered is checked against the run's
        // `Extensions` (a fork registers its own), not here.
        if self.advantage.estimator == "gae" {
            return Err(invalid(
                "advantage.estimator",
                "`gae` needs a learned value head, which this trainer does not train; use `prm_value` (the implicit PRM as value) or another estimator",
            ));
        }
        if self.advantage.estimator == "prm_value" && !self.prm.enabled {
            return Err(invalid(
                "advantage.estimator",
                "`prm_value` needs `prm.enabled = true`",
            ));
        }
        if self.sft.enabled && !self.data.train_files.is_empty() {
            return Err(invalid(
                "sft.enabled",
                "the SFT warm-up uses the built-in task's worked solutions; start from an SFT checkpoint (`model.path`) for file data",
            ));
        }

        if self.data.train_files.is_empty() {
            positive("data.train_size", self.data.train_size)?;
            positive("data.eval_size", self.data.eval_size)?;
        }
        positive("data.max_prompt_len", self.data.max_prompt_len)?;

        positive("rollout.batch_size", self.rollout.batch_size)?;
        if self.rollout.n_samples < 2 {
            return Err(invalid(
                "rollout.n_samples",
                "must be at least 2 (group baselines need K ≥ 2)",
            ));
        }
        finite_non_negative("rollout.temperature", self.rollout.temperature)?;
        if !(self.rollout.top_p > 0.0 && self.rollout.top_p <= 1.0) {
            return Err(invalid("rollout.top_p", "must lie in (0, 1]"));
        }
        positive("rollout.max_response_len", self.rollout.max_response_len)?;
        positive("rollout.micro_batch_size", self.rollout.micro_batch_size)?;
        self.rollout.vllm.validate(self.rollout.engine)?;

        let f = &self.filter;
        if !(0.0..=1.0).contains(&f.accuracy_lower)
            || !(0.0..=1.0).contains(&f.accuracy_upper)
            || f.accuracy_lower > f.accuracy_upper
        {
            return Err(invalid(
                "filter.accuracy_lower",
                format!(
                    "need 0 ≤ accuracy_lower ≤ accuracy_upper ≤ 1, got [{}, {}]",
                    f.accuracy_lower, f.accuracy_upper
                ),
            ));
        }
        if !(f.oversample_factor.is_finite() && f.oversample_factor >= 1.0) {
            return Err(invalid("filter.oversample_factor", "must be ≥ 1"));
        }

        finite_non_negative("ppo.clip_eps", self.ppo.clip_eps)?;
        finite_non_negative("ppo.kl_coef", self.ppo.kl_coef)?;
        if !self.ppo.entropy_coef.is_finite() {
            return Err(invalid("ppo.entropy_coef", "must be finite"));
        }
        positive("ppo.epochs", self.ppo.epochs)?;
        positive("ppo.mini_batch_size", self.ppo.mini_batch_size)?;
        positive("ppo.micro_batch_size", self.ppo.micro_batch_size)?;

        finite_non_negative("optim.lr", self.optim.lr)?;
        finite_non_negative("optim.weight_decay", self.optim.weight_decay)?;
        finite_non_negative("optim.grad_clip", self.optim.grad_clip)?;
        if !(0.0..=1.0).contains(&self.schedule.min_lr_ratio) {
            return Err(invalid("schedule.min_lr_ratio", "must lie in [0, 1]"));
        }

        positive("eval.micro_batch_size", self.eval.micro_batch_size)?;
        finite_non_negative("eval.temperature", self.eval.temperature)?;
        positive("checkpoint.keep_last", self.checkpoint.keep_last)?;
        Ok(())
    }
}

impl TrainConfig {
    /// `[lora]` and the model options that only mean something with it.
    fn validate_lora(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            message,
        };
        self.lora.validate().map_err(|e| match e {
            prime_models::ModelError::InvalidConfig { field, reason } => invalid(field, reason),
            other => invalid("lora", other.to_string()),
        })?;
        if self.lora.enabled() {
            return Ok(());
        }
        if self.model.base_dtype != prime_models::BaseDtype::F32 {
            return Err(invalid(
                "model.base_dtype",
                "a bf16 base is frozen: it needs LoRA adapters to train (set lora.rank)".into(),
            ));
        }
        if self.model.adapter_path.is_some() {
            return Err(invalid(
                "model.adapter_path",
                "starting from an adapter needs LoRA on (set lora.rank to the adapter's rank)"
                    .into(),
            ));
        }
        Ok(())
    }
}
