//! `[lora]` checks and `[memory]`: what a run does to fit its device (docs/algorithm.md §17).

use serde::{Deserialize, Serialize};

use super::TrainConfig;
use crate::error::ConfigError;

/// `[memory]`: trading compute for memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemorySection {
    /// Recompute each decoder layer's activations in the backward pass instead of keeping them
    /// (`prime_models::training_scores`): the PPO and PRM updates keep only every layer's input
    /// plus one layer's activations, for one extra forward of the layers. Default off.
    pub checkpoint_activations: bool,
    /// Tokens per chunk when computing token log-probs (LM head + log-softmax + gather), so
    /// `[batch, seq, vocab]` logits never exist at once; 0 (the default) computes the logits in
    /// one piece, as small models are fastest with. Large-vocabulary runs set e.g. 1024.
    pub logprob_chunk: usize,
    /// On CUDA, start even when the memory plan exceeds the device's memory (default off: the
    /// trainer refuses, naming the biggest components).
    pub allow_over_plan: bool,
}

impl TrainConfig {
    /// `[lora]` and the model options that only mean something with it.
    pub(super) fn validate_lora(&self) -> Result<(), ConfigError> {
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
