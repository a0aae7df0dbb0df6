//! [`ModelFamily`]: the architectures this crate reads and writes, named by the `model_type` of
//! their `config.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// The model families this crate implements, by `config.json` `model_type`. All three run on one
/// decoder ([`crate::Qwen2ForCausalLm`]); what differs between them is read from `config.json`
/// by the family's module (Qwen2's in `config.rs`, `qwen3.rs`, `llama.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// Qwen2 / Qwen2.5: biased q/k/v projections.
    #[default]
    Qwen2,
    /// Qwen3 (dense): RMSNorm on each query and key head before RoPE, `head_dim` from the
    /// config, no biases by default.
    Qwen3,
    /// Llama 3 / 3.1 / 3.2: optional attention and MLP biases, Llama-3 RoPE frequency scaling.
    Llama,
}

impl ModelFamily {
    /// Every family, in the order of their names in error messages.
    pub const ALL: &'static [ModelFamily] =
        &[ModelFamily::Qwen2, ModelFamily::Qwen3, ModelFamily::Llama];

    /// The `model_type` string of `config.json`.
    pub fn model_type(self) -> &'static str {
        match self {
            ModelFamily::Qwen2 => "qwen2",
            ModelFamily::Qwen3 => "qwen3",
            ModelFamily::Llama => "llama",
        }
    }

    /// The `architectures` entry of `config.json` (the transformers class).
    pub fn architecture(self) -> &'static str {
        match self {
            ModelFamily::Qwen2 => "Qwen2ForCausalLM",
            ModelFamily::Qwen3 => "Qwen3ForCausalLM",
            ModelFamily::Llama => "LlamaForCausalLM",
        }
    }

    /// The family whose `model_type` is `model_type`; the error names the field and lists the
    /// supported values.
    pub fn from_model_type(model_type: &str) -> Result<Self, ModelError> {
        Self::ALL
            .iter()
            .copied()
            .find(|family| family.model_type() == model_type)
            .ok_or_else(|| ModelError::InvalidConfig {
                field: "model_type",
                reason: format!(
                    "`{model_type}` is not supported (supported: {})",
                    Self::supported()
                ),
            })
    }

    /// The family of the checkpoint in `dir`, from its `config.json`'s `model_type`.
    pub fn of_checkpoint(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        #[derive(Deserialize)]
        struct ModelType {
            model_type: Option<String>,
        }
        let found: ModelType =
            serde_json::from_str(&text).map_err(|source| ModelError::Json { path, source })?;
        let model_type = found.model_type.ok_or_else(|| ModelError::InvalidConfig {
            field: "model_type",
            reason: format!("missing (supported: {})", Self::supported()),
        })?;
        Self::from_model_type(&model_type)
    }

    fn supported() -> String {
        Self::ALL
            .iter()
            .map(|f| format!("`{}`", f.model_type()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_type_is_read_from_config_json() {
        let dir = tempfile::tempdir().unwrap();
        for (text, family) in [
            ("qwen2", ModelFamily::Qwen2),
            ("qwen3", ModelFamily::Qwen3),
            ("llama", ModelFamily::Llama),
        ] {
            let json = format!(r#"{{"model_type": "{text}"}}"#);
            std::fs::write(dir.path().join("config.json"), json).unwrap();
            assert_eq!(ModelFamily::of_checkpoint(dir.path()).unwrap(), family);
        }
        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "gpt2"}"#).unwrap();
        let error = ModelFamily::of_checkpoint(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("model_type")
                && error.contains("`gpt2`")
                && error.contains("`qwen2`, `qwen3`, `llama`"),
            "{error}"
        );
    }
}
