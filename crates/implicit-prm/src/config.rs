//! [`PrmConfig`]: every knob of the implicit PRM with the defaults of docs/algorithm.md §6–7.

use serde::{Deserialize, Serialize};

use crate::PrmError;

/// The PRM training objective (docs/algorithm.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrmLoss {
    /// `BCE(σ(β Σ_t q_t), acc)`, mean over sequences (**default**).
    #[default]
    Ce,
    /// Pairwise loss against detached group members with a different accuracy.
    Dpo,
}

/// When the PRM is updated relative to the forward that scores the batch (docs/algorithm.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateMode {
    /// Single forward (**default**, paper): the loss forward of mini-batch `k` also yields its
    /// rewards, so mini-batch `k` is scored by the PRM after `k − 1` updates.
    #[default]
    After,
    /// Double forward: update on the whole batch, then score it with a fresh forward.
    Before,
    /// Offline PRM: score only, never update.
    None,
}

/// Configuration of [`crate::ImplicitPrm`]. Unknown keys are rejected when deserialising.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrmConfig {
    /// `β` of `r = β·q` and of the loss `σ(β Σ q)`. Default 0.05.
    pub beta: f32,
    /// Training objective. Default `ce`.
    pub loss: PrmLoss,
    /// Update order. Default `after`.
    pub update: UpdateMode,
    /// AdamW learning rate. Default 1e-6.
    pub lr: f64,
    /// AdamW (decoupled) weight decay. Default 0.
    pub weight_decay: f32,
    /// Global gradient-norm clip (PyTorch `clip_grad_norm_`); `0` disables. Default 10.
    pub grad_clip: f32,
    /// Rollouts per PRM optimizer step (and per inference forward chunk). Default 256.
    pub mini_batch_size: usize,
    /// Rollouts per forward/backward within a mini-batch, their gradients summed (memory only:
    /// the step is the same); 0 (the default) back-propagates the whole mini-batch at once.
    pub micro_batch_size: usize,
    /// In mode `after`, run one extra inference forward after the update to report
    /// `dpo_acc_after` (mode `before` always has it for free). Default false.
    pub measure_after_update: bool,
    /// Recompute each decoder layer in the backward instead of keeping its activations
    /// (activation checkpointing; `prime_models::training_scores`). Default false.
    pub recompute_layers: bool,
}

impl Default for PrmConfig {
    fn default() -> Self {
        Self {
            beta: 0.05,
            loss: PrmLoss::Ce,
            update: UpdateMode::After,
            lr: 1e-6,
            weight_decay: 0.0,
            grad_clip: 10.0,
            mini_batch_size: 256,
            micro_batch_size: 0,
            measure_after_update: false,
            recompute_layers: false,
        }
    }
}

impl PrmConfig {
    /// Checks value ranges: `β > 0` and finite, `lr ≥ 0`, `weight_decay ≥ 0`, `grad_clip ≥ 0`,
    /// `mini_batch_size ≥ 1`.
    pub fn validate(&self) -> Result<(), PrmError> {
        let bad = |field: &'static str, reason: String| Err(PrmError::Config { field, reason });
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return bad("beta", format!("must be finite and > 0, got {}", self.beta));
        }
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad("lr", format!("must be finite and >= 0, got {}", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                format!("must be finite and >= 0, got {}", self.weight_decay),
            );
        }
        if !(self.grad_clip.is_finite() && self.grad_clip >= 0.0) {
            return bad(
                "grad_clip",
                format!("must be finite and >= 0, got {}", self.grad_clip),
            );
        }
        if self.mini_batch_size == 0 {
            return bad("mini_batch_size", "must be at least 1".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let c = PrmConfig::default();
        assert_eq!(c.beta, 0.05);
        assert_eq!(c.loss, PrmLoss::Ce);
        assert_eq!(c.update, UpdateMode::After);
        assert_eq!(c.lr, 1e-6);
        assert_eq!(c.weight_decay, 0.0);
        assert_eq!(c.grad_clip, 10.0);
        assert_eq!(c.mini_batch_size, 256);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn parses_lowercase_names_and_fills_defaults() {
        let c: PrmConfig =
            serde_json::from_str(r#"{"beta": 0.1, "loss": "dpo", "update": "before"}"#).unwrap();
        assert_eq!(c.beta, 0.1);
        assert_eq!(c.loss, PrmLoss::Dpo);
        assert_eq!(c.update, UpdateMode::Before);
        assert_eq!(c.mini_batch_size, 256);
        let none: PrmConfig = serde_json::from_str(r#"{"update": "none"}"#).unwrap();
        assert_eq!(none.update, UpdateMode::None);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(serde_json::from_str::<PrmConfig>(r#"{"betta": 0.1}"#).is_err());
        assert!(serde_json::from_str::<PrmConfig>(r#"{"loss": "mse"}"#).is_err());
        let c = PrmConfig {
            beta: 0.0,
            ..PrmConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(PrmError::Config { field: "beta", .. })
        ));
        let c = PrmConfig {
            mini_batch_size: 0,
            ..PrmConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(PrmError::Config {
                field: "mini_batch_size",
                ..
            })
        ));
    }
}
