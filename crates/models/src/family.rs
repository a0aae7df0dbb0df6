//! Model families: what the trainer needs of an architecture besides [`CausalLm`] (load and save
//! the Hugging Face layout, initialise from scratch), and the one place where a `config.json`'s
//! `model_type` picks the Rust type.
//!
//! Adding a family: write its module (a burn `Module` implementing [`CausalLm`] and
//! [`PretrainedLm`]), then add one variant to [`ModelFamily`]: listed in [`ModelFamily::ALL`],
//! with its `model_type` and its model type in the match of [`ModelFamily::dispatch`]. The trainer
//! and the implicit PRM (checkpoints included) never name a family's type: they are generic over
//! [`TrainableLm`].

use std::path::Path;

use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use crate::{CausalLm, ModelError, Qwen2Config, Qwen2ForCausalLm, SaveDtype};

/// An architecture with Hugging Face checkpoints: loads and saves `config.json` +
/// `*.safetensors`, and builds a randomly initialised model from a [`ScratchArchitecture`].
pub trait PretrainedLm<B: Backend>: CausalLm<B> + Module<B> + Sized {
    /// `model_type` of the family's `config.json` (e.g. `"qwen2"`).
    const MODEL_TYPE: &'static str;

    /// Loads the checkpoint in `dir` (see [`crate::load_hf`] for the Qwen2 family).
    fn load_pretrained(dir: &Path, device: &B::Device) -> Result<Self, ModelError>;

    /// Writes the model to `dir` in the Hugging Face layout, weights stored as `dtype`.
    fn save_pretrained(&self, dir: &Path, dtype: SaveDtype) -> Result<(), ModelError>;

    /// A randomly initialised model of `architecture` with `vocab_size` rows of embedding.
    /// Seed with `B::seed(device, seed)` first for reproducible weights.
    fn from_scratch(
        architecture: &ScratchArchitecture,
        vocab_size: usize,
        device: &B::Device,
    ) -> Result<Self, ModelError>;
}

/// A model that can be trained: a [`PretrainedLm`] under autodiff whose inference copy
/// ([`AutodiffModule::valid`]) is a [`PretrainedLm`] of the inner backend (used for sampling,
/// old log-probs and frozen references). Implemented for every such type.
pub trait TrainableLm<B: AutodiffBackend>:
    PretrainedLm<B> + AutodiffModule<B, InnerModule: PretrainedLm<B::InnerBackend>>
{
}

impl<B, M> TrainableLm<B> for M
where
    B: AutodiffBackend,
    M: PretrainedLm<B> + AutodiffModule<B>,
    M::InnerModule: PretrainedLm<B::InnerBackend>,
{
}

/// The shape of a model built from scratch (family-neutral; each family maps it onto its own
/// config). The defaults are the built-in demo's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScratchArchitecture {
    /// The family to build.
    pub family: ModelFamily,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_key_value_heads: usize,
    /// Longest sequence (prompt + response) the model sees.
    pub max_position_embeddings: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// Share the input embedding with the output projection.
    pub tie_word_embeddings: bool,
}

impl Default for ScratchArchitecture {
    fn default() -> Self {
        Self {
            family: ModelFamily::Qwen2,
            hidden_size: 128,
            intermediate_size: 384,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            max_position_embeddings: 256,
            rope_theta: 10_000.0,
            tie_word_embeddings: true,
        }
    }
}

/// The model families this crate implements, by `config.json` `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// Qwen2 / Qwen2.5 ([`Qwen2ForCausalLm`]).
    Qwen2,
}

/// Something to run with the concrete type of a model family, chosen at run time by
/// [`ModelFamily::dispatch`]. `B` is the autodiff backend the model trains on.
pub trait FamilyVisitor<B: AutodiffBackend> {
    /// What the visit returns.
    type Output;

    /// Runs with the family's model type `M`.
    fn visit<M: TrainableLm<B>>(self) -> Self::Output;
}

impl ModelFamily {
    /// Every family, in the order of their names in error messages.
    pub const ALL: &'static [ModelFamily] = &[ModelFamily::Qwen2];

    /// The `model_type` string of `config.json`.
    pub fn model_type(self) -> &'static str {
        match self {
            ModelFamily::Qwen2 => <Qwen2ForCausalLm<burn::backend::Flex> as PretrainedLm<
                burn::backend::Flex,
            >>::MODEL_TYPE,
        }
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

    /// Runs `visitor` with this family's model type on backend `B`: the one dispatch point.
    pub fn dispatch<B: AutodiffBackend, V: FamilyVisitor<B>>(self, visitor: V) -> V::Output {
        match self {
            ModelFamily::Qwen2 => visitor.visit::<Qwen2ForCausalLm<B>>(),
        }
    }

    fn supported() -> String {
        Self::ALL
            .iter()
            .map(|f| format!("`{}`", f.model_type()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl<B: Backend> PretrainedLm<B> for Qwen2ForCausalLm<B> {
    const MODEL_TYPE: &'static str = "qwen2";

    fn load_pretrained(dir: &Path, device: &B::Device) -> Result<Self, ModelError> {
        crate::load_hf(dir, device)
    }

    fn save_pretrained(&self, dir: &Path, dtype: SaveDtype) -> Result<(), ModelError> {
        crate::save_hf(self, dir, dtype)
    }

    fn from_scratch(
        a: &ScratchArchitecture,
        vocab_size: usize,
        device: &B::Device,
    ) -> Result<Self, ModelError> {
        if a.num_attention_heads == 0 {
            return Err(ModelError::InvalidConfig {
                field: "num_attention_heads",
                reason: "must be at least 1".into(),
            });
        }
        let config = Qwen2Config {
            vocab_size,
            hidden_size: a.hidden_size,
            intermediate_size: a.intermediate_size,
            num_hidden_layers: a.num_hidden_layers,
            num_attention_heads: a.num_attention_heads,
            num_key_value_heads: a.num_key_value_heads,
            head_dim: a.hidden_size / a.num_attention_heads,
            max_position_embeddings: a.max_position_embeddings,
            rope_theta: a.rope_theta,
            tie_word_embeddings: a.tie_word_embeddings,
            ..Qwen2Config::tiny()
        };
        config.validate()?;
        Ok(config.init(device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    struct LayerCount;

    impl FamilyVisitor<Autodiff<Flex>> for LayerCount {
        type Output = Result<usize, ModelError>;
        fn visit<M: TrainableLm<Autodiff<Flex>>>(self) -> Self::Output {
            let architecture = ScratchArchitecture {
                num_hidden_layers: 3,
                hidden_size: 32,
                intermediate_size: 64,
                ..ScratchArchitecture::default()
            };
            let model = M::from_scratch(&architecture, 40, &Default::default())?;
            Ok(model.vocab_size() * 100 + M::MODEL_TYPE.len())
        }
    }

    #[test]
    fn dispatch_reaches_the_family_type() {
        let out = ModelFamily::Qwen2.dispatch::<Autodiff<Flex>, _>(LayerCount);
        assert_eq!(out.unwrap(), 40 * 100 + "qwen2".len());
    }

    #[test]
    fn model_type_is_read_from_config_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "qwen2"}"#).unwrap();
        assert_eq!(
            ModelFamily::of_checkpoint(dir.path()).unwrap(),
            ModelFamily::Qwen2
        );
        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "gpt2"}"#).unwrap();
        let error = ModelFamily::of_checkpoint(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("model_type") && error.contains("`gpt2`") && error.contains("`qwen2`"),
            "{error}"
        );
    }

    #[test]
    fn scratch_architecture_rejects_an_unknown_family() {
        let error = toml_like(r#"{"family": "gpt2"}"#);
        assert!(error.contains("qwen2"), "{error}");
    }

    fn toml_like(json: &str) -> String {
        serde_json::from_str::<ScratchArchitecture>(json)
            .unwrap_err()
            .to_string()
    }
}
