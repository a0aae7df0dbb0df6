//! `TrainConfig`: one TOML file describes a whole run.
//!
//! Every key has the default of `docs/algorithm.md`; unknown keys are rejected with the path of the
//! offending key. `--set section.key=value` overrides are applied to the TOML tree *before* it is
//! deserialised, so they are checked exactly like keys written in the file.

mod memory;
mod overrides;
mod sections;
mod validate;
mod vllm;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use overrides::apply_override;
pub use sections::{
    BackendKind, BackendSection, BuiltinTask, CheckpointSection, DataSection, EvalSection,
    FilterSection, LoggingSection, ModelSection, OptimSection, PpoSection, PrmSection,
    ReferenceMode, ReferenceSection, RolloutSection, ScheduleKind, ScheduleSection, SftSection,
};

pub use memory::MemorySection;
pub use vllm::{RolloutEngine, VllmSection};

use crate::error::ConfigError;

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Seeds model init, data order, sampling and every other random choice.
    pub seed: u64,
    /// RL steps to run (the paper compares at 240).
    pub steps: usize,
    /// The policy.
    pub model: ModelSection,
    /// Supervised warm-up before RL.
    pub sft: SftSection,
    /// Low-rank adapters for RL (`rank = 0`: full fine-tuning, the default). With LoRA on, the
    /// policy, the PRM and their references share one frozen base.
    pub lora: prime_models::LoraConfig,
    /// Memory savers: activation checkpointing, chunked log-probs, the planner's limit.
    pub memory: MemorySection,
    /// The implicit PRM.
    pub prm: PrmSection,
    /// The PRM's reference model.
    pub reference: ReferenceSection,
    /// Problems.
    pub data: DataSection,
    /// Sampling.
    pub rollout: RolloutSection,
    /// Accuracy / truncation filter.
    pub filter: FilterSection,
    /// Advantage estimator (registry name) and its options, incl. process-reward granularity
    /// and normalisation (docs/algorithm.md §6, §8, §9).
    pub advantage: prime_advantages::AdvantageOptions,
    /// Policy loss.
    pub ppo: PpoSection,
    /// Policy optimizer.
    pub optim: OptimSection,
    /// Policy learning-rate schedule.
    pub schedule: ScheduleSection,
    /// Evaluation.
    pub eval: EvalSection,
    /// Checkpoints.
    pub checkpoint: CheckpointSection,
    /// Logs, progress bar, report.
    pub logging: LoggingSection,
    /// Device.
    pub backend: BackendSection,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            steps: 240,
            model: ModelSection::default(),
            sft: SftSection::default(),
            lora: prime_models::LoraConfig::default(),
            memory: MemorySection::default(),
            prm: PrmSection::default(),
            reference: ReferenceSection::default(),
            data: DataSection::default(),
            rollout: RolloutSection::default(),
            filter: FilterSection::default(),
            advantage: prime_advantages::AdvantageOptions::default(),
            ppo: PpoSection::default(),
            optim: OptimSection::default(),
            schedule: ScheduleSection::default(),
            eval: EvalSection::default(),
            checkpoint: CheckpointSection::default(),
            logging: LoggingSection::default(),
            backend: BackendSection::default(),
        }
    }
}

impl TrainConfig {
    /// Reads `path`, applies `overrides` (`key.path=value`), deserialises and validates.
    ///
    /// A file may start from another with `base = "other.toml"` (a path relative to the file):
    /// the base is read first (recursively) and this file's tables are merged over it key by key.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let table = read_with_base(path, 0)?;
        Self::from_table(table, overrides).map_err(|e| e.in_file(path))
    }

    /// Parses TOML text, applies `overrides`, deserialises and validates.
    pub fn from_toml_str(text: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    message: e.to_string(),
                })?;
        Self::from_table(table, overrides)
    }

    fn from_table(mut table: toml::Table, overrides: &[String]) -> Result<Self, ConfigError> {
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        let config: Self =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                // `message()`, not `to_string()`: the path names the key, on one line.
                ConfigError::Field {
                    key: e.path().to_string(),
                    message: e.inner().message().to_string(),
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    /// The config as TOML (what a run directory stores as `config.toml`).
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| ConfigError::Syntax {
            message: e.to_string(),
        })
    }
}

/// The name a config file gives `choice` (`after`, `k3`, `warmup_cosine`, …).
pub fn choice_name(choice: &impl Serialize) -> String {
    let json = serde_json::to_string(choice).expect("a config choice serialises");
    json.trim_matches('"').to_string()
}

/// Reads `path` as a TOML table, resolving `base = "…"` chains (at most 8 deep).
fn read_with_base(path: &Path, depth: usize) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            message: e.to_string(),
        })
        .map_err(|e| e.in_file(path))?;
    let Some(base) = table.remove("base") else {
        return Ok(table);
    };
    let base = base.as_str().ok_or_else(|| {
        ConfigError::Field {
            key: "base".into(),
            message: "must be a path string".into(),
        }
        .in_file(path)
    })?;
    if depth >= 8 {
        return Err(ConfigError::Field {
            key: "base".into(),
            message: "more than 8 nested bases (a cycle?)".into(),
        }
        .in_file(path));
    }
    let base_path = path.parent().unwrap_or(Path::new(".")).join(base);
    let mut merged = read_with_base(&base_path, depth + 1)?;
    merge(&mut merged, table);
    Ok(merged)
}

/// Merges `over` into `into`: tables recursively, every other value replaced.
fn merge(into: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests;
